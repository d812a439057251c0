"""``openai:<model>``: any OpenAI-compatible Chat Completions endpoint via the official client.

``base_url`` and the key come from the model's entry in the experiment or from
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``, so one experiment runs against OpenAI, Azure,
vLLM, llama.cpp's server or Ollama. The client's own retries are off: the runner retries
with backoff and honours ``Retry-After``, and must not retry what cannot succeed
(``insufficient_quota`` is a 429 the client would otherwise retry).
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import HarnessError
from harness.experiment.schema import ModelSpec
from harness.models.base import ModelRequest, ModelResponse, Provider, ProviderError

if TYPE_CHECKING:
    import openai

__all__ = ["OpenAIProvider"]

_PASS_THROUGH = ("temperature", "max_tokens", "top_p", "seed", "stop", "response_format")
_FATAL_CODES = {"insufficient_quota", "invalid_api_key", "model_not_found", "billing_not_active"}


class OpenAIProvider(Provider):
    default_concurrency: ClassVar[int] = 32

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = spec.api_key
        if key is None and spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise HarnessError(f"{spec.id}: environment variable {spec.api_key_env} is not set")
        key = key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url is None:
                raise HarnessError(
                    f"{spec.id}: no API key: set OPENAI_API_KEY, or the model's api_key_env"
                )
            key = "not-needed"  # local servers (vLLM, llama.cpp, Ollama) accept any key
        import openai  # imported here: a fully cached run never pays for it

        self._client = openai.AsyncOpenAI(
            api_key=key, base_url=self.base_url, max_retries=0, timeout=spec.timeout or 60.0
        )

    @classmethod
    def identity_for(cls, spec: ModelSpec) -> dict[str, Any]:
        base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL") or None
        return {"provider": "openai", "model": spec.id.partition(":")[2], "base_url": base_url}

    async def complete(self, request: ModelRequest) -> ModelResponse:
        import httpx2
        import openai

        body: dict[str, Any] = {"model": self.model, "messages": list(request.messages)}
        body.update(
            {k: request.params[k] for k in _PASS_THROUGH if request.params.get(k) is not None}
        )
        body.update(request.params.get("extra_body") or {})
        start = time.perf_counter()
        try:
            # The client's documented raw-request path: its auth, headers and error types,
            # without building typed request and response models (half its CPU per call).
            raw = await self._client.post("/chat/completions", body=body, cast_to=httpx2.Response)
            data = json.loads(raw.content)
        except openai.APIStatusError as exc:
            raise _classify(exc) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise ProviderError(f"{type(exc).__name__}: {exc}", "retry") from None
        except (ValueError, openai.APIResponseValidationError) as exc:  # malformed body
            raise ProviderError(f"malformed response: {str(exc)[:200]}", "retry") from None
        latency = (time.perf_counter() - start) * 1000
        try:
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            return ModelResponse(
                text=choice["message"].get("content") or "",
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                latency_ms=latency,
                finish_reason=choice.get("finish_reason"),
            )
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(f"unexpected response shape: {str(data)[:200]}", "retry") from None

    async def aclose(self) -> None:
        await self._client.close()


def _classify(exc: openai.APIStatusError) -> ProviderError:
    status = exc.status_code
    code = _error_code(exc)
    message = f"HTTP {status}" + (f" {code}" if code else "") + f": {_error_message(exc)}"
    if code in _FATAL_CODES or status in (401, 403, 404):
        return ProviderError(message, "fatal", status=status)
    if status in (408, 409, 429) or status >= 500:
        return ProviderError(message, "retry", retry_after=_retry_after(exc), status=status)
    return ProviderError(message, "request", status=status)


def _error_code(exc: openai.APIStatusError) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    return str(error.get("code")) if isinstance(error, dict) and error.get("code") else None


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        return json.dumps(body)[:300]
    return str(exc)[:300]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None
