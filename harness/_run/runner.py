"""The runner: every (variant, case, repeat) request, concurrently, losing nothing.

Per model, ``concurrency`` workers pull requests from a queue. Transient failures (429,
5xx, timeouts, dropped connections, malformed bodies) are retried with exponential backoff
and full jitter, honouring ``Retry-After`` up to a cap; a request that still fails becomes
an error result. A fatal failure (bad key, unknown model, no quota) stops every worker
after the requests already in flight, keeping all finished results. Finished results go to
the journal and cache as they finish. With a budget (harness._run.budget), each request
reserves its worst case before it is sent and settles it with its reported usage.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness._redact import redact
from harness._run.budget import Budget, Reservation
from harness._run.cache import ResponseCache, response_entry
from harness._run.journal import Journal
from harness.models._compute import machine_clock
from harness.models.base import (
    FatalModelError,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    RetryableError,
)
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
    #: Per message of the request, the pool id of the shot it shows (None: not a shot's).
    owners: tuple[str | None, ...] = ()
    split: str | None = None  # the case's split (dev, heldout) in a split experiment

    @property
    def id(self) -> tuple[str, str, int]:
        """Which result this request produces: (variant, case, repeat)."""
        return (self.variant, self.case, self.repeat)


DEFAULT_MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff with full jitter; a server's ``Retry-After`` instead, up to ``max_retry_after``.

    The cap is there because a server may ask for any wait (600 s, a day); past it, the
    retry is simply tried early and, if still refused, counts as one more attempt.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None and not math.isnan(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after) + rng.uniform(0, 0.1)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))

    def waiting(self, retry_after: float | None) -> str | None:
        """What the progress bar says while a retry waits on ``Retry-After``."""
        if retry_after is None or math.isnan(retry_after):
            return None
        if retry_after > self.max_retry_after:
            return (
                f"waiting {self.max_retry_after:g}s "
                f"(Retry-After, capped from {_seconds(retry_after)})"
            )
        return f"waiting {_seconds(retry_after)} (Retry-After)"


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 else f"{value:.3g}s"


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
    batched: int = 0  # answered through a Batch API
    #: Machine seconds spent generating in this run (the measured answers' ``compute_s``,
    #: each request once); cached and resumed answers took none now.
    compute_s: float = 0.0


@dataclass
class Execution:
    results: dict[tuple[str, str, int], Result] = field(default_factory=dict)
    stats: RunStats = field(default_factory=RunStats)
    aborted: str | None = None


ProgressHook = Callable[[Result, RunStats], None]
WaitHook = Callable[[str, float], None]  # (what is waited for, seconds)
_OVER_BUDGET = "budget"  # replaced by explain_budget once every request has settled


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
    budget: Budget | None = None,
    spent: float = 0.0,
    retry: RetryPolicy | None = None,
    on_result: ProgressHook | None = None,
    on_wait: WaitHook | None = None,
    answered: Mapping[str, ModelResponse | str] | None = None,
    metered: Mapping[str, str] | None = None,
) -> Execution:
    """Run ``tasks``; results already in ``done`` (a resumed journal) are not requested.

    ``budget`` (or just ``max_cost``) stops the run before spending past it. ``spent`` is
    what earlier attempts of a resumed run spent: ``stats.cost`` is the run's total.
    ``metered`` maps models whose provider does not time its answers (a server elsewhere)
    to the machine serving them: each answer's ``compute_s`` is then its share of the time
    that machine had requests of this run in flight (see :mod:`harness.models._compute`).
    """
    if budget is None and max_cost is not None:
        budget = Budget(max_cost, prices, spent=spent)
    run = _Run(providers, prices, cache, journal, budget, retry or RetryPolicy(), on_result)
    run.on_wait = on_wait
    run.metered = dict(metered or {})
    run.execution.stats.cost = budget.spent if budget is not None else spent
    run.execution.stats.total = len(tasks)
    shared: dict[str, list[Task]] = {}  # identical requests (e.g. two selectors that agree)
    resumed: list[tuple[str, dict[str, Any]]] = []
    for task in tasks:
        previous = (done or {}).get(task.id)
        if previous is not None and previous.key == task.key:
            run.execution.results[task.id] = previous
            run.execution.stats.resumed += 1
            run.notify(previous)
            if previous.output is not None and previous.error is None:
                entry = response_entry(
                    previous.output,
                    previous.prompt_tokens,
                    previous.completion_tokens,
                    previous.latency_ms,
                    previous.finish_reason,
                    compute_s=previous.compute_s,
                    compute_device=previous.compute_device,
                )
                resumed.append((task.key, entry))
        else:
            shared.setdefault(task.key, []).append(task)
    if cache is not None and resumed:  # a killed run's last responses may not be cached yet
        cache.add_missing(resumed)
    run.shared = shared
    todo = [group[0] for group in shared.values()]
    if answered:  # a Batch API's answers: recorded as if just asked, at its price
        run.held = []
        for task in [t for t in todo if t.key in answered]:
            answer = answered[task.key]
            run.execution.stats.batched += 1
            if isinstance(answer, str):
                run.record_error(task, answer)
            else:
                run.record(task, answer, cached=False)
        if journal is not None:
            journal.append_many(run.held)
        run.held = None
        todo = [t for t in todo if t.key not in answered]
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
    run.explain_budget()
    return run.execution


class _Run:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        prices: Mapping[str, Price | None],
        cache: ResponseCache | None,
        journal: Journal | None,
        budget: Budget | None,
        retry: RetryPolicy,
        on_result: ProgressHook | None,
    ) -> None:
        self.providers = providers
        self.prices = prices
        self.cache = cache
        self.journal = journal
        self.budget = budget
        self.retry = retry
        self.on_result = on_result
        self.on_wait: WaitHook | None = None
        self.execution = Execution()
        self.metered: dict[str, str] = {}  # model -> the machine timed for it
        self.shared: dict[str, list[Task]] = {}
        self.held: list[Result] | None = None  # journal lines written together
        self.rng = random.Random()

    def notify(self, result: Result) -> None:
        if self.on_result is not None:
            self.on_result(result, self.execution.stats)

    async def worker(self, queue: deque[Task]) -> None:
        execution = self.execution
        budget = self.budget
        while queue and execution.aborted is None:
            task = queue.popleft()
            if budget is None:
                await self.attempt(task)
                continue
            prompt_tokens = budget.prompt_tokens(task.model, task.request.messages)
            max_tokens = task.request.params.max_tokens or 0
            reservation = await budget.reserve(task.model, prompt_tokens, max_tokens)
            if reservation is None or execution.aborted is not None:
                if reservation is None and execution.aborted is None:
                    execution.aborted = _OVER_BUDGET
                if reservation is not None:
                    budget.release(reservation)
                budget.stop()
                return
            try:
                await self.attempt(task, reservation)
            finally:
                budget.release(reservation)  # unless settled: failed, nothing known spent
            if execution.aborted is not None:
                budget.stop()

    def explain_budget(self) -> None:
        """The budget's abort message, once the requests in flight have settled.

        Written at the end so that it states the same total as the summary.
        """
        if self.budget is not None and self.execution.aborted == _OVER_BUDGET:
            limit = self.budget.limit
            self.execution.aborted = (
                f"budget: the next request would take spending past --max-cost ${limit:g}: "
                f"spent ${self.execution.stats.cost:.4f} of ${limit:g} across this run's resumes "
                "(a resume keeps this budget; give it a larger --max-cost to go on)"
            )

    async def attempt(self, task: Task, reservation: Reservation | None = None) -> None:
        """One task's request, retried while it fails transiently.

        Dispatches on the failure's class (see :mod:`harness.errors`): a fatal one aborts
        the run, a retryable one is retried with backoff up to ``max_attempts``, and any
        other :class:`ProviderError` (a request that cannot succeed) is this result's error.
        """
        provider = self.providers[task.model]
        stats = self.execution.stats
        attempt = 0
        machine = self.metered.get(task.model)
        while True:
            try:
                if machine is None:
                    response = await provider.complete(task.request)
                else:
                    response = await self.timed(provider, task, machine)
            except FatalModelError as exc:
                if self.execution.aborted is None:
                    self.execution.aborted = f"{task.model}: {exc}"
                return
            except RetryableError as exc:
                attempt += 1
                if attempt >= self.retry.max_attempts:
                    self.record_error(task, f"{exc} (after {attempt} attempts)")
                    return
                stats.retries += 1
                delay = self.retry.delay(attempt, exc.retry_after, self.rng)
                waiting = self.retry.waiting(exc.retry_after)
                if waiting is not None and self.on_wait is not None:
                    self.on_wait(waiting, delay)
                await asyncio.sleep(delay)
                if self.execution.aborted is not None:
                    return
                continue
            except ProviderError as exc:
                self.record_error(task, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - a provider bug fails one request only
                self.record_error(task, f"{type(exc).__name__}: {exc}")
                return
            self.record(task, response, cached=False, reservation=reservation)
            return

    async def timed(self, provider: Provider, task: Task, machine: str) -> ModelResponse:
        """The request, with its share of the machine's time when the provider gave none."""
        clock = machine_clock(machine)
        mark = clock.start()
        try:
            response = await provider.complete(task.request)
        finally:
            share = clock.stop(mark)
        if response.compute_s is None:
            response = replace(response, compute_s=share, compute_device=None)
        return response

    def record(
        self,
        task: Task,
        response: ModelResponse,
        *,
        cached: bool,
        reservation: Reservation | None = None,
    ) -> None:
        price = self.prices.get(task.model)
        cost = price.cost(response.prompt_tokens, response.completion_tokens) if price else None
        stats = self.execution.stats
        if cached:
            stats.cached += 1
        else:
            stats.requested += 1
            stats.compute_s += response.compute_s or 0.0
            if reservation is not None and self.budget is not None:
                pt, ct = response.prompt_tokens, response.completion_tokens
                stats.cost += self.budget.settle(reservation, cost, pt, ct)
            else:
                stats.cost += cost or 0.0
            if self.cache is not None:
                entry = response_entry(
                    response.text,
                    response.prompt_tokens,
                    response.completion_tokens,
                    response.latency_ms,
                    response.finish_reason,
                    compute_s=response.compute_s,
                    compute_device=response.compute_device,
                )
                self.cache.put(task.key, entry)  # committed within the cache's interval
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
            compute_s=response.compute_s,
            compute_device=response.compute_device,
        )

    def record_error(self, task: Task, message: str) -> None:
        self.execution.stats.requested += 1
        self.execution.stats.errors += 1
        self.finish_all(task, output=None, error=redact(message))

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
                    split=member.split,
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
