"""``local:<model>``: a Hugging Face causal LM run in-process (``local:smollm2`` is embedded).

Requests arriving concurrently (the runner keeps up to ``default_concurrency`` of them
waiting) are handed to the engine together, all those with the same generation params at
once, so it can plan batches over all of them: shared prefixes computed once, similar
lengths together (see :mod:`harness.models._batching`).  Generation runs in a worker
thread and each request's result is handed back as soon as its batch finishes.  The model
loads once per process.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from harness.models.base import (
    FatalModelError,
    ModelRef,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderOptions,
    RequestError,
)

if TYPE_CHECKING:
    from harness.models._local_engine import Generation

__all__ = ["LocalOptions", "LocalProvider"]


class LocalOptions(ProviderOptions):
    """How a ``local:`` model runs in this process."""

    batch_size: int | None = Field(
        None, ge=1, le=4096, description="Local models: most conversations in a batch (64)"
    )
    batch_tokens: int | None = Field(
        None,
        ge=16,
        le=1_048_576,
        description="Local models: most tokens in a batch, prompts plus max_tokens (3072)",
    )
    device: str | None = Field(None, description="Local models: cpu, cuda, cuda:1 (default: auto)")
    dtype: str | None = Field(None, description="Local models: float32, bfloat16, float16")
    threads: int | None = Field(
        None, ge=1, le=1024, description="Local models on CPU: torch threads"
    )


class LocalProvider(Provider):
    Options: ClassVar[type[ProviderOptions]] = LocalOptions
    default_concurrency: ClassVar[int] = 4096  # waiting requests are cheap; batches plan better
    options: LocalOptions

    def __init__(
        self, ref: ModelRef, options: ProviderOptions, *, home: Path | None = None
    ) -> None:
        super().__init__(ref, options, home=home)
        self._engine: Any = None
        self._load_lock = asyncio.Lock()
        self._pending: list[tuple[ModelRequest, asyncio.Future[ModelResponse]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def _load(self) -> Any:
        async with self._load_lock:
            if self._engine is None:
                from harness.models._local_engine import load_engine

                opts = self.options
                self._engine = await asyncio.to_thread(
                    load_engine,
                    self.model,
                    device=opts.device,
                    dtype=opts.dtype,
                    threads=opts.threads,
                    home=self.home,
                )
        return self._engine

    async def complete(self, request: ModelRequest) -> ModelResponse:
        future: asyncio.Future[ModelResponse] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            engine = await self._load()
        except Exception as exc:  # noqa: BLE001 - no request can succeed without the model
            pending, self._pending = self._pending, []
            for _, future in pending:
                if not future.done():
                    future.set_exception(FatalModelError(str(exc)))
            return
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(0)  # let concurrent callers enqueue before we plan
            group = _params_key(self._pending[0][0])
            batch = [p for p in self._pending if _params_key(p[0]) == group]
            taken = {id(f) for _, f in batch}
            self._pending = [p for p in self._pending if id(p[1]) not in taken]
            params = batch[0][0].params
            started = time.perf_counter()

            try:
                await asyncio.to_thread(
                    engine.generate_batches,
                    [list(r.messages) for r, _ in batch],
                    max_tokens=int(params.max_tokens or 256),
                    temperature=float(params.temperature or 0.0),
                    top_p=params.top_p,
                    seed=params.seed,
                    stop=list(params.stop) if params.stop else None,
                    batch_size=self.options.batch_size,
                    batch_tokens=self.options.batch_tokens,
                    on_batch=_delivery(loop, [f for _, f in batch], started, engine.device),
                    on_error=_failure(loop, [f for _, f in batch]),
                )
            except Exception as exc:  # noqa: BLE001 - reported per request, run goes on
                await asyncio.sleep(0)  # results already handed over land first
                for _, future in batch:
                    if not future.done():
                        future.set_exception(RequestError(f"local generation failed: {exc}"))

    async def aclose(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()


def _delivery(
    loop: asyncio.AbstractEventLoop,
    futures: Sequence[asyncio.Future[ModelResponse]],
    started: float,
    device: str,
) -> Callable[[Sequence[int], Sequence[Generation]], None]:
    """A callback (run in the engine's thread) that resolves a finished batch's futures.

    ``latency_ms`` is the wait of each request (every row of a batch waited for all of it);
    ``compute_s`` is the row's share of the machine time its batch took, which is what the
    answer cost (see :class:`~harness.models._local_engine.Generation`).
    """

    def deliver(rows: Sequence[int], generations: Sequence[Generation]) -> None:
        latency = (time.perf_counter() - started) * 1000
        for row, generation in zip(rows, generations, strict=True):
            response = ModelResponse(
                text=generation.text,
                prompt_tokens=generation.prompt_tokens,
                completion_tokens=generation.completion_tokens,
                latency_ms=latency,
                finish_reason=generation.finish_reason,
                extra={"batch": len(rows)},
                compute_s=generation.compute_s,
                compute_device=device,
            )
            loop.call_soon_threadsafe(_resolve, futures[row], response)

    return deliver


def _failure(
    loop: asyncio.AbstractEventLoop, futures: Sequence[asyncio.Future[ModelResponse]]
) -> Callable[[Sequence[int], Exception], None]:
    """A callback (run in the engine's thread) that fails a batch's requests, and only them."""

    def fail(rows: Sequence[int], error: Exception) -> None:
        failure = RequestError(f"local generation failed: {error}")
        for row in rows:
            loop.call_soon_threadsafe(_reject, futures[row], failure)

    return fail


def _reject(future: asyncio.Future[ModelResponse], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


def _resolve(future: asyncio.Future[ModelResponse], response: ModelResponse) -> None:
    if not future.done():
        future.set_result(response)


def _params_key(request: ModelRequest) -> str:
    return json.dumps(request.params.to_dict(), sort_keys=True, default=str)
