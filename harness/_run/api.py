"""Running experiments from Python: ``harness.run``, ``harness.estimate`` and their records.

This is the one public way in to the run machinery (harness._run.pipeline and the modules
under it, which stay free to change). The CLI, the testing API and the pytest plugin call
only what is here, so a script gets exactly what ``harness run`` does: the same cache,
resume, budget, run records and exit codes, returned as typed records instead of printed.

Importing this module is cheap; the pipeline (numpy, scipy, HTTP clients) loads on the
first call, so ``import harness`` stays fast for ``harness --version`` and ``validate``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.experiment import Experiment, Trust, Variant, key_destinations, load_experiment

if TYPE_CHECKING:
    from harness._run.pipeline import RunOutcome
    from harness._run.runner import RunStats, Task
    from harness.report.summary import Summary, VariantSummary
    from harness.results import Result

__all__ = [
    "RunEstimate",
    "RunResult",
    "VariantEstimate",
    "VariantResult",
    "estimate",
    "run",
    "select_variants",
]

ExperimentSource = Experiment | str | os.PathLike[str]
Names = str | Sequence[str] | None


@dataclass(frozen=True)
class VariantResult:
    """One variant's numbers, named for assertions (``result.variant("terse/*")``)."""

    summary: VariantSummary
    results: tuple[Result, ...]

    @property
    def id(self) -> str:
        return self.summary.variant.id

    @property
    def pass_rate(self) -> float:
        return self.summary.rate.rate

    @property
    def ci(self) -> tuple[float, float]:
        """The pass rate's 95% interval (Wilson; with repeats, the case is the cluster)."""
        return self.summary.rate.low, self.summary.rate.high

    @property
    def errors(self) -> int:
        """Results that could not be scored (failed requests or checks), not failures."""
        return self.summary.errors

    @property
    def failures(self) -> list[Result]:
        """Every result that did not pass: failed checks and errors alike."""
        return [r for r in self.results if r.passed is not True]


@dataclass(frozen=True)
class RunResult:
    """What a run produced: the summary, every result, and where the run is recorded.

    ``run_dir`` holds the same files ``harness run`` leaves (``results.jsonl``, the summary,
    the learning curve), so ``harness show RUN_ID`` works on a run made from Python.
    """

    experiment: Experiment
    summary: Summary
    results: tuple[Result, ...]
    stats: RunStats
    run_id: str
    run_dir: Path
    aborted: str | None = None  # why the run stopped early (budget, fatal provider error)
    resumed_from: str | None = None  # the run continued, when resume=True found one
    curve_png: Path | None = None  # the learning curve, when the run had several shot counts
    report_html: Path | None = None  # the self-contained HTML report (harness report)
    #: A split run's selection step: every variant on the dev cases. ``summary`` is then
    #: the answer, on held-out cases, for the winner, its ties and the baseline.
    selection: Summary | None = None

    @property
    def split(self) -> bool:
        """Whether the winner was chosen on dev cases and reported on held-out ones."""
        return self.selection is not None

    @property
    def exit_code(self) -> int:
        """``harness run``'s: 3 when aborted, 1 when a variant misses min_pass_rate, else 0."""
        if self.aborted:
            return 3
        return 1 if self.summary.failing else 0

    @property
    def variants(self) -> list[str]:
        """Variant ids, best first."""
        return [v.variant.id for v in self.summary.variants]

    @property
    def best(self) -> VariantResult:
        assert self.summary.best is not None, "no variant produced a result"
        return self.variant(self.summary.best)

    def variant(self, variant_id: str) -> VariantResult:
        """A variant by exact id, or by a glob matching exactly one variant."""
        matches = [
            v
            for v in self.summary.variants
            if v.variant.id == variant_id or fnmatch.fnmatchcase(v.variant.id, variant_id)
        ]
        if len(matches) != 1:
            raise KeyError(f"{variant_id!r} matches {len(matches)} variants: {self.variants}")
        vid = matches[0].variant.id
        return VariantResult(matches[0], tuple(r for r in self.results if r.variant == vid))


@dataclass(frozen=True)
class VariantEstimate:
    """One variant's requests, prompt tokens and worst-case cost, before sending anything."""

    variant: str
    requests: int
    prompt_tokens: int
    max_completion_tokens: int  # every request's max_tokens: the worst case
    cost: float | None  # USD at that worst case; None when the model has no known price
    tokens_exact: bool  # prompt tokens from the model's own tokenizer, else an estimate


@dataclass(frozen=True)
class RunEstimate:
    """``harness run --dry-run`` as data: per variant, totals, and where keys would go."""

    variants: tuple[VariantEstimate, ...]
    key_destinations: tuple[str, ...]  # "MODEL sends KEY to URL", one per addressed model

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.variants)

    @property
    def prompt_tokens(self) -> int:
        return sum(e.prompt_tokens for e in self.variants)

    @property
    def max_completion_tokens(self) -> int:
        return sum(e.max_completion_tokens for e in self.variants)

    @property
    def cost(self) -> float:
        """USD, worst case, over the priced variants (see ``unpriced`` for the others)."""
        return sum(e.cost or 0.0 for e in self.variants)

    @property
    def unpriced(self) -> list[str]:
        """Variants whose model has no known price: their cost is not in ``cost``."""
        return [e.variant for e in self.variants if e.cost is None]


def run(
    experiment: ExperimentSource,
    /,
    *,
    variants: Names = None,
    models: Names = None,
    home: str | os.PathLike[str] | None = None,
    concurrency: int | None = None,
    use_cache: bool = True,
    resume: bool = False,
    max_cost: float | None = None,
    progress: bool | None = None,
    repeats: int | None = None,
    keep_errors: bool = False,
    max_retry_after: float | None = None,
    trust: Trust | None = None,
    allow_python: bool = False,
    all_heldout: bool = False,
    batch: bool = False,
    wait: bool = True,
    resubmit: bool = False,
    direct_remainder: bool = False,
) -> RunResult:
    """Run an experiment as ``harness run`` does, and return its outcome.

    ``experiment`` is a loaded :class:`Experiment` or the path of its file (loaded with
    ``trust``; ``allow_python`` is shorthand for ``Trust(python=True)``). ``variants`` are
    ids or globs, ``models`` replace the file's models; ``home`` holds the cache and run
    records (default ``$HARNESS_HOME`` or ``./.harness``). ``resume`` continues this file's
    last unfinished run (``keep_errors``: without asking its failures again); ``max_cost``
    (USD) stops the run before it could spend more; ``max_retry_after`` caps, in seconds,
    how long a server's ``Retry-After`` is honoured. ``progress``: a bar on stderr, by
    default when stderr is a terminal. A split experiment (``tests: split:``) runs every
    variant on its dev cases, then the winner, its ties and the baseline (every variant
    with ``all_heldout``) on its held-out cases: ``summary`` is the held-out table and
    ``selection`` the dev one.

    ``batch`` sends the requests of every model with a Batch API through it (or give a
    model ``batch: true``): half the price, answers within 24 hours. With ``wait=False``
    the batches are submitted and recorded and :class:`~harness._run.batch.BatchesSubmitted`
    is raised; ``resume=True`` collects them later. What an expired, cancelled or failed
    batch did not answer goes to a new batch (``resubmit``), to direct requests
    (``direct_remainder``) or, by default, into the results as errors naming both.

    A run that stops early (budget, fatal provider error) still returns, with ``aborted``
    set; invalid input raises :class:`~harness.HarnessError` (``ExperimentError`` for the
    file), and Ctrl-C propagates with finished results kept for ``resume=True``.
    """
    from harness._run.pipeline import RunOptions, run_experiment

    exp = _experiment(experiment, trust, allow_python)
    options = RunOptions(
        variants=_names(variants),
        models=_names(models),
        concurrency=concurrency,
        use_cache=use_cache,
        resume=resume,
        max_cost=max_cost,
        repeats=repeats,
        home=_home(home),
        progress=progress,
        max_retry_after=max_retry_after,
        keep_errors=keep_errors,
        all_heldout=all_heldout,
        batch=batch,
        batch_wait=wait,
        resubmit=resubmit,
        direct_remainder=direct_remainder,
    )
    return _result(run_experiment(exp, options))


def estimate(
    experiment: ExperimentSource,
    /,
    *,
    variants: Names = None,
    models: Names = None,
    home: str | os.PathLike[str] | None = None,
    repeats: int | None = None,
    trust: Trust | None = None,
    allow_python: bool = False,
    batch: bool = False,
) -> RunEstimate:
    """What :func:`run` would send, counted without sending anything (``--dry-run``).

    Every request is rendered; prompt tokens are exact where the model's tokenizer is known
    (``openai:`` models), estimated otherwise; the cost counts every request's
    ``max_tokens`` of completion, which is what ``max_cost`` reserves before sending, at
    the Batch API's price for the models that use it (``batch``, or ``batch: true``).
    """
    from harness._run.pipeline import RunOptions, plan_run
    from harness.models.pricing import prompt_token_counter

    exp = _experiment(experiment, trust, allow_python)
    options = RunOptions(
        variants=_names(variants),
        models=_names(models),
        repeats=repeats,
        home=_home(home),
        batch=batch,
    )
    plan = plan_run(exp, options)
    by_variant: dict[str, list[Task]] = {}
    for task in plan.tasks:
        by_variant.setdefault(task.variant, []).append(task)
    rows = []
    for variant in plan.variants:
        tasks = by_variant.get(variant.id, [])
        price = plan.prices[variant.model]
        count, exact = prompt_token_counter(plan.models[variant.model].id)
        prompt = sum(count(t.request.messages) for t in tasks)
        completion = sum(t.request.params.max_tokens or 0 for t in tasks)
        cost = None if price is None else price.cost(prompt, completion)
        rows.append(VariantEstimate(variant.id, len(tasks), prompt, completion, cost, exact))
    return RunEstimate(tuple(rows), tuple(key_destinations(exp.spec)))


def select_variants(
    experiment: ExperimentSource,
    /,
    *,
    variants: Names = None,
    models: Names = None,
    home: str | os.PathLike[str] | None = None,
    trust: Trust | None = None,
    allow_python: bool = False,
) -> tuple[Variant, ...]:
    """The variants :func:`run` would run with these arguments, in order, rendering nothing.

    Unlike ``harness.plan_variants``, this applies ``models`` and adds the experiment's
    fine-tuned models (whose names depend on ``home``); the pytest plugin collects one
    test item per variant from it. Raises :class:`~harness.HarnessError` when no variant
    matches ``variants``.
    """
    from harness._run.pipeline import RunOptions
    from harness._run.pipeline import select_variants as select

    exp = _experiment(experiment, trust, allow_python)
    options = RunOptions(variants=_names(variants), models=_names(models), home=_home(home))
    return select(exp, options)[0]


def _experiment(source: ExperimentSource, trust: Trust | None, allow_python: bool) -> Experiment:
    if isinstance(source, Experiment):
        if trust is not None or allow_python:
            raise TypeError(
                "trust and allow_python apply when a file is loaded: pass them to "
                "load_experiment, or pass the path here"
            )
        return source
    path = source if isinstance(source, str) else Path(source)
    return load_experiment(path, allow_python=allow_python, trust=trust)


def _home(home: str | os.PathLike[str] | None) -> Path | None:
    """``""`` means "not given", as an empty ``--home`` or ``$HARNESS_HOME`` always has."""
    return Path(home) if home is not None and os.fspath(home) != "" else None


def _names(value: Names) -> tuple[str, ...]:
    """One name or several: a lone string is one glob, never a sequence of letters."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _result(outcome: RunOutcome) -> RunResult:
    return RunResult(
        experiment=outcome.experiment,
        summary=outcome.summary,
        results=tuple(outcome.results),
        stats=outcome.stats,
        run_id=outcome.run.id,
        run_dir=outcome.run.path,
        aborted=outcome.aborted,
        resumed_from=outcome.resumed_from,
        curve_png=outcome.curve_png,
        report_html=outcome.report_html,
        selection=outcome.selection,
    )
