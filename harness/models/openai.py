"""``openai:<model>``: any OpenAI-compatible Chat Completions endpoint via the official client.

``base_url`` and the key come from the model's entry in the experiment or from
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``, so one experiment runs against OpenAI, Azure,
vLLM, llama.cpp's server or Ollama. The client's own retries are off: the runner retries
with backoff and honours ``Retry-After``, and must not retry what cannot succeed
(``insufficient_quota`` is a 429 the client would otherwise retry).

The server is not trusted: ``timeout`` is a deadline for the whole request (the client's
own timeouts are per read, so a body dripped a byte at a time never trips them), the body
read is capped, redirects are reported instead of followed (a redirect loop cost hundreds of
requests per case), and every answer is validated by a strict model of the response, so an
ill-typed field is that request's error and never a stored output or token count.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, ValidationError

from harness._redact import register_secret
from harness.errors import ModelError
from harness.models.base import (
    FatalModelError,
    ModelRef,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    ProviderOptions,
    RequestError,
    RetryableError,
)

if TYPE_CHECKING:
    import httpx2
    import openai

__all__ = ["OpenAIOptions", "OpenAIProvider", "chat_body", "parse_completion"]

_PASS_THROUGH = ("temperature", "max_tokens", "top_p", "seed", "stop", "response_format")
_FATAL_CODES = {"insufficient_quota", "invalid_api_key", "model_not_found", "billing_not_active"}
DEFAULT_TIMEOUT = 60.0
#: An answer is a few KB; a body past this is a broken (or endless) one.
MAX_BODY_BYTES = 32 * 2**20
#: Far above any context window; a larger count is a broken server, not usage to bill.
MAX_TOKENS = 10_000_000
_T = TypeVar("_T")

# The typed model of a response: strict, so "ten", true, 1.0, NaN and Infinity are not
# token counts and a list or a number is not text. Other fields are ignored unread.
_Tokens = Annotated[int, Field(strict=True, ge=0, le=MAX_TOKENS)]


class _Message(BaseModel, strict=True):
    content: str | None = None
    refusal: Any = None


class _Choice(BaseModel, strict=True):
    message: _Message
    finish_reason: str | None = None


class _Usage(BaseModel, strict=True):
    prompt_tokens: _Tokens | None = None
    completion_tokens: _Tokens | None = None


class _Completion(BaseModel, strict=True):
    choices: Annotated[list[_Choice], Field(min_length=1)]
    usage: _Usage | None = None


class OpenAIOptions(ProviderOptions):
    """Where an ``openai:`` model is served and with which key."""

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (HTTP)")
    api_key: str | None = Field(None, description="Prefer api_key_env: files get shared")
    api_key_env: str | None = Field(None, description="Environment variable holding the key")
    timeout: float | None = Field(None, gt=0, description="Seconds per request (HTTP)")
    batch: bool = Field(False, description="Send through the Batch API (half price, 24 h)")
    batch_max_requests: int = Field(50_000, ge=1, description="Most requests per batch file")
    batch_max_bytes: int = Field(200 * 2**20, ge=1024, description="Largest batch file, bytes")
    batch_poll_seconds: float = Field(
        30.0, gt=0, description="First wait between batch status checks (then backing off)"
    )


class OpenAIProvider(Provider):
    Options: ClassVar[type[ProviderOptions]] = OpenAIOptions
    default_concurrency: ClassVar[int] = 32
    options: OpenAIOptions

    def __init__(
        self, ref: ModelRef, options: ProviderOptions, *, home: Path | None = None
    ) -> None:
        super().__init__(ref, options, home=home)
        opts = self.options
        self.base_url = _base_url(opts)
        key = opts.api_key
        if key is None and opts.api_key_env:
            key = os.environ.get(opts.api_key_env)
            if not key:
                raise ModelError(f"{ref}: environment variable {opts.api_key_env} is not set")
        key = key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url is None:
                raise ModelError(
                    f"{ref}: no API key: set OPENAI_API_KEY, or the model's api_key_env"
                )
            key = "not-needed"  # local servers (vLLM, llama.cpp, Ollama) accept any key
        register_secret(key)  # servers echo keys in error messages, which are stored
        self.deadline = opts.timeout or DEFAULT_TIMEOUT
        self.max_body_bytes = MAX_BODY_BYTES
        import openai  # imported here: a fully cached run never pays for it

        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.deadline,
            # On the client, not per request: per-request options add CPU to every call.
            http_client=openai.DefaultAsyncHttpxClient(follow_redirects=False),
        )

    @classmethod
    def identity(cls, ref: ModelRef, options: ProviderOptions) -> dict[str, Any]:
        assert isinstance(options, OpenAIOptions)
        return {"provider": "openai", "model": ref.name, "base_url": _base_url(options)}

    async def complete(self, request: ModelRequest) -> ModelResponse:
        body = chat_body(self.model, request)
        start = time.perf_counter()
        try:
            content = await _within(self.deadline, self._send(body))
        except asyncio.TimeoutError:
            raise RetryableError(f"timed out after {self.deadline:g}s (deadline)") from None
        return _parse(content, (time.perf_counter() - start) * 1000)

    async def _send(self, body: dict[str, Any]) -> bytes:
        """POST and read the body (at most ``max_body_bytes``); HTTP failures classified."""
        import httpx2
        import openai

        try:
            # The client's documented raw-request path: its auth, headers and error types,
            # without building typed request and response models (half its CPU per call).
            # Streamed, so the body read below is ours to cap.
            raw: httpx2.Response = await self._client.post(
                "/chat/completions",
                body=body,
                cast_to=httpx2.Response,
                stream=True,
                stream_cls=None,
            )
        except openai.APIStatusError as exc:
            raise _classify(exc) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from None
        try:
            return await _read_capped(raw, self.max_body_bytes)
        except httpx2.HTTPError as exc:  # dropped or timed out mid-body
            raise RetryableError(f"{type(exc).__name__} reading the body: {exc}") from None
        finally:
            await raw.aclose()

    async def aclose(self) -> None:
        await self._client.close()

    # -- Batch API (harness run --batch): the same client, key and error classification --
    async def upload_batch_file(self, path: Path) -> str:
        """Upload an input file (purpose ``batch``); its file id."""
        with path.open("rb") as fh:
            uploaded = await self._call(
                self._client.files.create(file=(path.name, fh), purpose="batch")
            )
        return str(uploaded.id)

    async def create_batch(self, input_file_id: str, metadata: dict[str, str]) -> Any:
        return await self._call(
            self._client.batches.create(
                input_file_id=input_file_id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata=metadata,
            )
        )

    async def retrieve_batch(self, batch_id: str) -> Any:
        return await self._call(self._client.batches.retrieve(batch_id))

    async def cancel_batch(self, batch_id: str) -> Any:
        return await self._call(self._client.batches.cancel(batch_id))

    async def download_file(self, file_id: str, target: Path) -> None:
        """Stream a file's content (a batch's output or error file) to ``target``."""
        tmp = target.with_name(target.name + ".tmp")

        async def fetch() -> None:
            async with self._client.files.with_streaming_response.content(file_id) as raw:
                with tmp.open("wb") as out:
                    async for chunk in raw.iter_bytes():
                        out.write(chunk)

        await self._call(fetch())
        tmp.replace(target)

    async def _call(self, awaitable: Awaitable[_T]) -> _T:
        import openai

        try:
            return await awaitable
        except openai.APIStatusError as exc:
            raise _classify(exc) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from None


def chat_body(model: str, request: ModelRequest) -> dict[str, Any]:
    """The JSON body of a chat completion request: what is POSTed directly, and what a
    Batch API input line carries. It never holds the API key (that travels in a header)."""
    body: dict[str, Any] = {"model": model, "messages": list(request.messages)}
    params = request.params.to_dict()
    body.update({k: params[k] for k in _PASS_THROUGH if k in params})
    body.update(params.get("extra_body") or {})
    return body


def parse_completion(content: bytes, latency_ms: float = 0.0) -> ModelResponse:
    """A response from a chat completion body, validated as the direct path validates it
    (a Batch API output line's ``response.body`` included)."""
    return _parse(content, latency_ms)


def _base_url(options: OpenAIOptions) -> str | None:
    return options.base_url or os.environ.get("OPENAI_BASE_URL") or None


async def _within(seconds: float, awaitable: Awaitable[_T]) -> _T:
    """``awaitable`` under a deadline (asyncio.timeout where it exists: no extra task)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)  # pragma: no cover - Python 3.10


async def _read_capped(raw: httpx2.Response, limit: int) -> bytes:
    declared = raw.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RetryableError(f"response body of {declared} bytes is over the {limit}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in raw.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise RetryableError(f"response body is over the {limit}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(content: bytes, latency_ms: float) -> ModelResponse:
    """A response from a validated body: text is str, token counts are ints in range."""
    try:
        completion = _Completion.model_validate_json(content)
    except ValidationError as exc:
        raise _malformed(exc) from None
    choice = completion.choices[0]
    text = choice.message.content
    if text is None:
        # RequestError, not RetryableError: a null content is a well-formed answer without
        # text (a refusal, a tool call, a content filter), and asking again at the same
        # settings gets the same; it is recorded as this case's error, never as an empty
        # output.
        refusal = choice.message.refusal
        why = f"refusal: {refusal[:200]}" if isinstance(refusal, str) else "no text"
        finish = f", finish_reason {choice.finish_reason}" if choice.finish_reason else ""
        raise RequestError(f"response has null content ({why}{finish})")
    usage = completion.usage
    return ModelResponse(
        text=text,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
        latency_ms=latency_ms,
        finish_reason=choice.finish_reason,
    )


def _malformed(exc: ValidationError) -> RetryableError:
    """A short message naming the first bad field (retried: broken bodies are often transient)."""
    errors = exc.errors(include_url=False, include_context=False)
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if first["type"] == "json_invalid":
        return RetryableError(f"malformed response: {first['msg']}")  # Invalid JSON: ...
    where = ".".join(str(part) for part in first["loc"]) or "body"
    got = repr(first["input"])
    got = got if len(got) <= 60 else got[:57] + "..."
    return RetryableError(f"malformed response: {where}: {first['msg']}, got {got}{more}")


def _classify(exc: openai.APIStatusError) -> ProviderError:
    status = exc.status_code
    if 300 <= status < 400:  # not followed: a loop would cost a request per hop
        location = exc.response.headers.get("location")
        target = str(exc.response.url.join(location)) if location else "an unnamed address"
        message = f"HTTP {status}: server redirected to {target}; set base_url to the final address"
        return RequestError(message, status=status)
    code = _error_code(exc)
    message = f"HTTP {status}" + (f" {code}" if code else "") + f": {_error_message(exc)}"
    if code in _FATAL_CODES or status in (401, 403, 404):
        return FatalModelError(message, status=status)
    if status in (408, 409, 429) or status >= 500:
        return RetryableError(message, retry_after=_retry_after(exc), status=status)
    return RequestError(message, status=status)


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
