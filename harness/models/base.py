"""What every model provider speaks: a request of chat messages, a response with usage.

A provider is a small class: ``complete(request) -> ModelResponse``, raising a
:class:`ProviderError` subclass that classifies the failure (:class:`RetryableError`,
:class:`RequestError`, :class:`FatalModelError`; defined in :mod:`harness.errors` with the
rest of the family, re-exported here for provider authors). Retries, concurrency, caching
and cost accounting live in the runner, so a new provider only translates one call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import FatalModelError, ProviderError, RequestError, RetryableError
from harness.experiment.schema import ModelSpec

__all__ = [
    "FatalModelError",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "ProviderError",
    "RequestError",
    "RetryableError",
]


@dataclass(frozen=True)
class ModelRequest:
    """One chat completion: messages as role/content mappings plus generation params."""

    messages: tuple[Mapping[str, str], ...]
    params: Mapping[str, Any]
    repeat: int = 0


@dataclass(frozen=True)
class ModelResponse:
    """A model's answer and what it cost."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    finish_reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Provider(ABC):
    """A model behind one provider prefix (``local:``, ``openai:``)."""

    #: Concurrent requests when neither the experiment nor the command line sets it.
    default_concurrency: ClassVar[int] = 8

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.provider, _, self.model = spec.id.partition(":")
        #: The harness home of the run (local models find converted weights and adapters
        #: there); set by the pipeline, None means the default home.
        self.home: Path | None = None

    @abstractmethod
    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Send one request; raise :class:`ProviderError` on failure."""

    @classmethod
    def identity_for(cls, spec: ModelSpec) -> dict[str, Any]:
        """What distinguishes this model's answers in the cache (never secrets)."""
        provider, _, model = spec.id.partition(":")
        return {"provider": provider, "model": model, "base_url": spec.base_url}

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or threads."""
