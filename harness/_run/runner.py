"""The runner: every (variant, case, repeat) request, concurrently, losing nothing.

Per model, ``concurrency`` workers pull requests from a queue. Transient failures (429,
5xx, timeouts, dropped connections, malformed bodies) are retried with exponential backoff
and full jitter, honouring ``Retry-After``; a request that still fails becomes an error
result. A fatal failure (bad key, unknown model, no quota) stops every worker after the
requests already in flight, keeping all finished results. Finished results go to the
journal and cache as they finish.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness._run.cache import ResponseCache
from harness._run.journal import Journal
from harness.models.base import ModelRequest, ModelResponse, Provider, ProviderError
from harness.models.pricing import Price
from harness.results import Result

__all__ = ["Execution", "RetryPolicy", "RunStats", "Task", "execute"]


@dataclass(frozen=True)
class Task:
    """One request to make, and what it belongs to."""

    key: str
    variant: str
    case: str
    repeat: int
    model: str
    request: ModelRequest
    shots: tuple[str, ...] = ()
    estimated_cost: float = 0.0

    @property
    def id(self) -> tuple[str, str, int]:
        """Which result this request produces: (variant, case, repeat)."""
        return (self.variant, self.case, self.repeat)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after) + rng.uniform(0, 0.1)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass
class RunStats:
    total: int = 0
    resumed: int = 0
    cached: int = 0
    requested: int = 0
    retries: int = 0
    errors: int = 0
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Execution:
    results: dict[tuple[str, str, int], Result] = field(default_factory=dict)
    stats: RunStats = field(default_factory=RunStats)
    aborted: str | None = None


ProgressHook = Callable[[Result, RunStats], None]


async def execute(
    tasks: Sequence[Task],
    providers: Mapping[str, Provider],
    *,
    concurrency: Mapping[str, int],
    prices: Mapping[str, Price | None],
    cache: ResponseCache | None = None,
    journal: Journal | None = None,
    done: Mapping[tuple[str, str, int], Result] | None = None,
    max_cost: float | None = None,
    retry: RetryPolicy | None = None,
    on_result: ProgressHook | None = None,
) -> Execution:
    """Run ``tasks``; results already in ``done`` (a resumed journal) are not requested."""
    run = _Run(providers, prices, cache, journal, max_cost, retry or RetryPolicy(), on_result)
    run.execution.stats.total = len(tasks)
    shared: dict[str, list[Task]] = {}  # identical requests (e.g. two selectors that agree)
    for task in tasks:
        previous = (done or {}).get(task.id)
        if previous is not None and previous.key == task.key:
            run.execution.results[task.id] = previous
            run.execution.stats.resumed += 1
            run.notify(previous)
        else:
            shared.setdefault(task.key, []).append(task)
    run.shared = shared
    todo = [group[0] for group in shared.values()]
    if cache is not None and todo:
        hits = cache.get_many(t.key for t in todo)
        run.held = []
        remaining = []
        for task in todo:
            hit = hits.get(task.key)
            if hit is None:
                remaining.append(task)
            else:
                run.record(task, ModelResponse(**hit), cached=True)
        if journal is not None:
            journal.append_many(run.held)
        run.held = None
        todo = remaining
    queues: dict[str, deque[Task]] = {}
    for task in todo:
        queues.setdefault(task.model, deque()).append(task)
    workers = [
        run.worker(queue)
        for model, queue in queues.items()
        for _ in range(max(1, min(concurrency.get(model, 1), len(queue))))
    ]
    try:
        await asyncio.gather(*workers)
    finally:
        if cache is not None:
            cache.flush()
    return run.execution


class _Run:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        prices: Mapping[str, Price | None],
        cache: ResponseCache | None,
        journal: Journal | None,
        max_cost: float | None,
        retry: RetryPolicy,
        on_result: ProgressHook | None,
    ) -> None:
        self.providers = providers
        self.prices = prices
        self.cache = cache
        self.journal = journal
        self.max_cost = max_cost
        self.retry = retry
        self.on_result = on_result
        self.execution = Execution()
        self.shared: dict[str, list[Task]] = {}
        self.held: list[Result] | None = None  # journal lines written together
        self.in_flight_cost = 0.0
        self.rng = random.Random()

    def notify(self, result: Result) -> None:
        if self.on_result is not None:
            self.on_result(result, self.execution.stats)

    async def worker(self, queue: deque[Task]) -> None:
        execution = self.execution
        while queue and execution.aborted is None:
            task = queue[0]
            if self.max_cost is not None:
                committed = execution.stats.cost + self.in_flight_cost + task.estimated_cost
                if committed > self.max_cost:
                    execution.aborted = (
                        f"budget: the next request would take spending past --max-cost "
                        f"${self.max_cost:g} (spent ${execution.stats.cost:.4f})"
                    )
                    return
            queue.popleft()
            self.in_flight_cost += task.estimated_cost
            try:
                await self.attempt(task)
            finally:
                self.in_flight_cost -= task.estimated_cost

    async def attempt(self, task: Task) -> None:
        provider = self.providers[task.model]
        stats = self.execution.stats
        attempt = 0
        while True:
            try:
                response = await provider.complete(task.request)
            except ProviderError as exc:
                if exc.kind == "fatal":
                    if self.execution.aborted is None:
                        self.execution.aborted = f"{task.model}: {exc}"
                    return
                attempt += 1
                if exc.kind == "retry" and attempt < self.retry.max_attempts:
                    stats.retries += 1
                    await asyncio.sleep(self.retry.delay(attempt, exc.retry_after, self.rng))
                    if self.execution.aborted is not None:
                        return
                    continue
                suffix = f" (after {attempt} attempts)" if exc.kind == "retry" else ""
                self.record_error(task, f"{exc}{suffix}")
                return
            except Exception as exc:  # noqa: BLE001 - a provider bug fails one request only
                self.record_error(task, f"{type(exc).__name__}: {exc}")
                return
            self.record(task, response, cached=False)
            return

    def record(self, task: Task, response: ModelResponse, *, cached: bool) -> None:
        price = self.prices.get(task.model)
        cost = price.cost(response.prompt_tokens, response.completion_tokens) if price else None
        stats = self.execution.stats
        if cached:
            stats.cached += 1
        else:
            stats.requested += 1
            stats.cost += cost or 0.0
            if self.cache is not None:
                self.cache.put(
                    task.key,
                    {
                        "text": response.text,
                        "prompt_tokens": response.prompt_tokens,
                        "completion_tokens": response.completion_tokens,
                        "latency_ms": response.latency_ms,
                        "finish_reason": response.finish_reason,
                    },
                )
        stats.prompt_tokens += response.prompt_tokens or 0
        stats.completion_tokens += response.completion_tokens or 0
        self.finish_all(
            task,
            output=response.text,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            latency_ms=response.latency_ms,
            finish_reason=response.finish_reason,
            cost=cost,
            cached=cached,
        )

    def record_error(self, task: Task, message: str) -> None:
        self.execution.stats.requested += 1
        self.execution.stats.errors += 1
        self.finish_all(task, output=None, error=message)

    def finish_all(self, task: Task, **outcome: Any) -> None:
        """One result for each task sharing this request (identical prompts are asked once)."""
        for member in self.shared.get(task.key, [task]):
            self.finish(
                Result(
                    variant=member.variant,
                    case=member.case,
                    repeat=member.repeat,
                    key=member.key,
                    shots=member.shots,
                    **outcome,
                )
            )

    def finish(self, result: Result) -> None:
        self.execution.results[(result.variant, result.case, result.repeat)] = result
        if self.held is not None:
            self.held.append(result)
        elif self.journal is not None:
            self.journal.append(result)
        self.notify(result)
