"""``echo:NAME``: a whole harness provider, the README's example (``pip install .`` here)."""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.models import (
    ModelRef,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderOptions,
    RequestError,
)


class EchoOptions(ProviderOptions):
    """What a model entry may set beside ``id: echo:NAME``; other keys are errors."""

    case: Literal["same", "upper", "lower"] = "same"
    prefix: str = Field("", description="Text put before every answer")


class EchoProvider(Provider):
    """Answers with the last user message, in the case its options ask for."""

    Options: ClassVar[type[ProviderOptions]] = EchoOptions
    options: EchoOptions
    default_concurrency: ClassVar[int] = 4

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        said = [m["content"] for m in request.messages if m["role"] == "user"]
        if not said:  # the runner records this request's error and goes on
            raise RequestError("nothing to echo: no user message")
        text = said[-1]
        if self.options.case != "same":
            text = text.upper() if self.options.case == "upper" else text.lower()
        words = (self.options.prefix + text).split(" ")[: request.params.max_tokens]
        return ModelResponse(
            " ".join(words),
            prompt_tokens=sum(len(m["content"].split()) for m in request.messages),
            completion_tokens=len(words),
            latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason="stop",
        )

    @classmethod
    def identity(cls, ref: ModelRef, options: ProviderOptions) -> dict[str, Any]:
        # The options change the answers, so they are part of the response cache's key.
        return {**super().identity(ref, options), **options.model_dump()}
