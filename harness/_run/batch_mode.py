"""Which of a run's models go through a Batch API, and the answers they get there.

Between planning and the runner: ``batch_plans`` decides per model (``--batch`` for every
model whose provider has a Batch API, or ``batch: true`` on the model), ``answer_by_batch``
sends those models' unanswered requests (not resumed, not cached) through
:mod:`harness._run.batch` and hands the runner their answers, which it records as it
records direct ones.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from harness._run.batch import (
    TERMINAL,
    BatchAnswers,
    BatchEntry,
    BatchPlan,
    run_batches,
    submitted_keys,
)
from harness._run.batch_files import BatchLimits
from harness._run.cache import ResponseCache
from harness._run.runner import Task
from harness.errors import HarnessError
from harness.experiment import ModelSpec
from harness.models.pricing import Price, estimate_prompt_tokens
from harness.models.registry import provider_class
from harness.results import Result
from harness.runs import RunDir

__all__ = ["answer_by_batch", "batch_plans"]


def batch_plans(
    models: Mapping[str, ModelSpec],
    *,
    batch: bool,
    wait: bool = True,
    resubmit: bool = False,
    direct_remainder: bool = False,
) -> dict[str, BatchPlan]:
    """The models whose requests go through a Batch API, with their limits."""
    plans = {}
    for key, spec in models.items():
        cls = provider_class(spec.ref.provider)
        if not hasattr(cls, "upload_batch_file"):
            continue  # local models and providers without a Batch API run directly
        options: Any = cls.Options.model_validate(spec.options)
        if not (batch or getattr(options, "batch", False)):
            continue
        plans[key] = BatchPlan(
            BatchLimits(options.batch_max_requests, options.batch_max_bytes),
            options.batch_poll_seconds,
            wait,
            resubmit,
            direct_remainder,
        )
    return plans


class _StatusLines:
    """One stderr line per change: each batch's status and answered/total requests."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, entries: Sequence[BatchEntry]) -> None:
        done = sum(e.status in TERMINAL for e in entries)
        parts = [
            f"{e.batch_id}: {e.status} {e.counts.get('completed', 0)}/{e.requests}"
            for e in entries
            if e.batch_id
        ]
        line = f"batches {done}/{len(entries)} finished · " + " · ".join(parts)
        if line != self.last:
            print(line, file=sys.stderr)
            self.last = line


async def answer_by_batch(
    run: RunDir,
    tasks: Sequence[Task],
    plans: Mapping[str, BatchPlan],
    providers: Mapping[str, Any],
    cache: ResponseCache | None,
    done: Mapping[tuple[str, str, int], Result],
    *,
    prices: Mapping[str, Price | None],
    max_cost: float | None,
    spent: float,
    progress: bool,
) -> BatchAnswers:
    """Answers by cache key for the batch models' requests that are neither resumed nor
    cached; with ``max_cost``, nothing is submitted that could cost more than is left."""
    pending = [
        t for t in tasks if t.model in plans and not (t.id in done and done[t.id].key == t.key)
    ]
    if cache is not None and pending:
        hits = cache.get_many(t.key for t in pending)
        pending = [t for t in pending if t.key not in hits]
    if max_cost is not None:  # on what would be submitted now, not what already was
        submitted = submitted_keys(run.path)
        fresh = [t for t in pending if t.key not in submitted]
        _check_budget(fresh, prices, max_cost - spent)
    if not pending and not (run.path / "batches.json").exists():
        return BatchAnswers({})
    batch_providers = {m: providers[m] for m in plans}

    def body(task: Task) -> dict[str, Any]:
        from harness.models.openai import chat_body

        return chat_body(batch_providers[task.model].model, task.request)

    return await run_batches(
        run.path,
        run.id,
        pending,
        batch_providers,
        plans,
        body,
        on_status=_StatusLines() if progress else None,
    )


def _check_budget(tasks: Sequence[Task], prices: Mapping[str, Price | None], left: float) -> None:
    """The worst case of what would be submitted (every request at its max_tokens)."""
    worst = 0.0
    seen: set[str] = set()
    for task in tasks:
        price = prices.get(task.model)
        if price is None or task.key in seen:
            continue
        seen.add(task.key)
        prompt = estimate_prompt_tokens(task.request.messages)
        worst += price.cost(prompt, task.request.params.max_tokens or 0)
    if worst > left:
        raise HarnessError(
            f"the batch could cost up to ${worst:.4f} at the batch price, more than the "
            f"${max(left, 0.0):.4f} --max-cost leaves: nothing was submitted"
        )
