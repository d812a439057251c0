"""What every model provider speaks: a model reference, its options, a request, a response.

A provider is a small class: it declares its own ``Options`` (a pydantic model; the keys a
user may write beside the model's id in the experiment file) and translates one call,
``complete(request) -> ModelResponse``, raising a :class:`ProviderError` subclass that
classifies the failure (:class:`RetryableError`, :class:`RequestError`,
:class:`FatalModelError`; defined in :mod:`harness.errors` with the rest of the family and
re-exported here for provider authors). Retries, concurrency, caching and cost accounting
live in the runner. Nothing here knows the experiment file: the experiment layer builds
these records from it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from harness.errors import FatalModelError, ProviderError, RequestError, RetryableError

__all__ = [
    "FatalModelError",
    "GenerationParams",
    "ModelRef",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "ProviderError",
    "ProviderOptions",
    "RequestError",
    "RetryableError",
]


@dataclass(frozen=True)
class ModelRef:
    """``provider:name``, parsed once: ``local:smollm2`` is provider ``local``, name ``smollm2``."""

    provider: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """The reference in ``text``; ``ValueError`` (a readable one) when it has no provider."""
        provider, sep, name = str(text).partition(":")
        if not sep or not provider or not name:
            raise ValueError(f"model {text!r} must look like provider:name, e.g. local:smollm2")
        return cls(provider, name)

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}"


class ProviderOptions(BaseModel):
    """A provider's own settings, written beside the model's id in the experiment file.

    Subclass it in a provider (``class Options(ProviderOptions): ...``); unknown keys are
    errors, reported at their line by ``harness validate``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class GenerationParams:
    """How to generate: what the experiment's ``params`` set, merged with the model's own.

    ``None`` means unset: the provider's default applies. ``to_dict`` gives exactly the set
    values, which is what the response cache keys on.
    """

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    response_format: Mapping[str, Any] | None = None
    extra_body: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> GenerationParams:
        """From a mapping of the fields above (unknown keys are a ``TypeError``)."""
        given = dict(values)
        if isinstance(given.get("stop"), list):
            given["stop"] = tuple(given["stop"])
        return cls(**given)

    def to_dict(self) -> dict[str, Any]:
        """The set values (``stop`` as a list, as it was written)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if f.name == "stop" else value
        return out


@dataclass(frozen=True)
class ModelRequest:
    """One chat completion: messages as role/content mappings plus generation params."""

    messages: tuple[Mapping[str, str], ...]
    params: GenerationParams = GenerationParams()
    repeat: int = 0


@dataclass(frozen=True)
class ModelResponse:
    """A model's answer and what it cost.

    ``compute_s`` is the machine time the answer took, amortised over what the machine did
    at once (a batch's rows, concurrent requests; see :mod:`harness.models._compute`), on
    ``compute_device`` (``cpu``, ``cuda:0``; ``None`` for a server elsewhere). A provider
    that cannot measure it leaves ``None``.
    """

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    finish_reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    compute_s: float | None = None
    compute_device: str | None = None


class Provider(ABC):
    """The models behind one provider prefix (``local:``, ``openai:``, a plug-in's)."""

    #: The keys a model entry may carry for this provider.
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions
    #: Concurrent requests when neither the experiment nor the command line sets it.
    default_concurrency: ClassVar[int] = 8

    def __init__(
        self, ref: ModelRef, options: ProviderOptions, *, home: Path | None = None
    ) -> None:
        self.ref = ref
        self.options = options
        #: The harness home of the run (local models find converted weights and adapters
        #: there); None means the default home.
        self.home = home

    @property
    def model(self) -> str:
        """The model's name within the provider (``smollm2`` in ``local:smollm2``)."""
        return self.ref.name

    @abstractmethod
    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Send one request; raise :class:`ProviderError` on failure."""

    @classmethod
    def identity(cls, ref: ModelRef, options: ProviderOptions) -> dict[str, Any]:
        """What distinguishes this model's answers in the response cache (never secrets).

        Override it to add the options that change answers (an endpoint, a revision).
        """
        return {"provider": ref.provider, "model": ref.name, "base_url": None}

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or threads."""
