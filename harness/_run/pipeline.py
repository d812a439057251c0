"""One run, end to end: plan -> render -> query (cache, journal) -> check -> results.

The machinery behind the public ``harness.run`` and ``harness.estimate``
(harness._run.api), which is what the CLI, the testing API and the pytest plugin call:
``run_experiment`` runs a loaded experiment, ``plan_run`` renders and keys every request
(what ``--dry-run`` counts), ``select_variants`` only decides which variants and models a
run covers (cheap enough for pytest's collection). Tests drive these directly.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness._lock import RunLock
from harness._redact import register_secret
from harness._run.batch import BatchAnswers, BatchesSubmitted
from harness._run.batch_mode import answer_by_batch, batch_plans
from harness._run.budget import Budget, budget_limit, spent_by
from harness._run.cache import ResponseCache, request_key
from harness._run.checking import check_run
from harness._run.journal import Journal
from harness._run.records import run_meta, save_curve, write_report, write_requests_record
from harness._run.runner import Execution, RetryPolicy, RunStats, Task, execute
from harness.errors import HarnessError
from harness.experiment import (
    DEV,
    HELDOUT,
    Experiment,
    ModelSpec,
    Variant,
    match_variants,
    plan_variants,
)
from harness.home import cache_path, harness_home
from harness.models.base import GenerationParams, ModelRequest, Provider
from harness.models.pricing import Price, price_for, prompt_token_counter
from harness.models.registry import create_provider, model_identity, provider_class
from harness.render import prepare_selectors, render_variant
from harness.report.summary import Summary, heldout_candidates, summarize, summarize_run
from harness.report.table import report_json
from harness.results import Result
from harness.runs import RunDir, new_run, resume_run

__all__ = ["RunOptions", "RunOutcome", "plan_run", "run_experiment", "select_variants"]


@dataclass(frozen=True)
class RunOptions:
    variants: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    concurrency: int | None = None
    use_cache: bool = True
    resume: bool = False
    max_cost: float | None = None
    repeats: int | None = None
    home: Path | None = None
    progress: bool | None = None  # None: a progress bar when stderr is a terminal
    max_retry_after: float | None = None  # seconds; None: RetryPolicy's default cap
    keep_errors: bool = False  # --resume keeps results that failed instead of asking again
    all_heldout: bool = False  # a split run confirms every variant on held-out cases
    batch: bool = False  # every model with a Batch API sends through it (else `batch: true`)
    batch_wait: bool = True  # False: submit the batches, record them and stop
    resubmit: bool = False  # what an expired/cancelled/failed batch left: a new batch
    direct_remainder: bool = False  # ... or direct requests (else: errors naming both)


@dataclass
class RunOutcome:
    experiment: Experiment
    variants: tuple[Variant, ...]
    results: list[Result]
    stats: RunStats
    run: RunDir
    summary: Summary
    aborted: str | None = None
    resumed_from: str | None = None
    model_specs: dict[str, ModelSpec] = field(default_factory=dict)
    curve_png: Path | None = None
    report_html: Path | None = None
    selection: Summary | None = None  # a split run's selection step (summary: held-out)

    @property
    def exit_code(self) -> int:
        """3 when aborted, 1 when a variant misses its min_pass_rate, else 0."""
        if self.aborted:
            return 3
        return 1 if self.summary.failing else 0


@dataclass(frozen=True)
class _Plan:
    variants: tuple[Variant, ...]
    models: dict[str, ModelSpec]
    tasks: list[Task]
    prices: dict[str, Price | None]


def _model_specs(exp: Experiment, overrides: Sequence[str]) -> list[ModelSpec]:
    if not overrides:
        return list(exp.spec.models)
    return [ModelSpec.model_validate(m) for m in overrides]


def select_variants(
    exp: Experiment, options: RunOptions
) -> tuple[tuple[Variant, ...], dict[str, ModelSpec]]:
    """The variants a run covers and their models, without rendering anything.

    ``--model`` replaces the file's models; the file's ``finetune:`` models are added
    (unless models were replaced); ``--variant`` globs then select.
    """
    specs = _model_specs(exp, options.models)
    spec = exp.spec.model_copy(update={"models": specs})
    variants = match_variants(plan_variants(spec), options.variants)
    models = {m.key: m for m in specs}
    if exp.spec.finetune and not options.models:
        from harness.finetune.experiment import finetuned_models

        tuned = finetuned_models(exp, options.home)
        variants += match_variants([t.variant for t in tuned], options.variants)
        models.update({t.model.key: t.model for t in tuned})
    if not variants:
        raise HarnessError(f"no variant matches {', '.join(options.variants)}")
    return tuple(variants), models


def plan_run(
    exp: Experiment,
    options: RunOptions,
    *,
    split: str | None = None,
    only: Sequence[str] | None = None,
) -> _Plan:
    """Variants, their models and every request, rendered and keyed: on ``split``'s cases
    (every case when ``None``), for the variants in ``only`` when given."""
    variants, models = select_variants(exp, options)
    if only is not None:
        variants = tuple(v for v in variants if v.id in set(only))
    prices = {key: price_for(m.id, m.price) for key, m in models.items()}
    for key in batch_plans(models, batch=options.batch):  # the Batch API's price
        price = prices[key]
        prices[key] = price.batch() if price is not None else None
    params = {key: _params(exp, m) for key, m in models.items()}
    identity = {key: model_identity(m.ref, m.options) for key, m in models.items()}
    repeats = options.repeats or exp.spec.repeats
    selectors = prepare_selectors(exp)
    tasks: list[Task] = []
    for variant in variants:
        model = variant.model
        for case in exp.cases_in(split):
            rendered = render_variant(exp, variant, case, selectors)
            messages = tuple(m.to_dict() for m in rendered.messages)
            for repeat in range(repeats):
                tasks.append(
                    Task(
                        key=request_key(identity[model], messages, params[model], repeat),
                        variant=variant.id,
                        case=case.id,
                        repeat=repeat,
                        model=model,
                        request=ModelRequest(messages, params[model], repeat),
                        shots=rendered.shots,
                        owners=tuple(m.shot for m in rendered.messages),
                        split=exp.split_of(case.id),
                    )
                )
    return _Plan(variants, models, tasks, prices)


def _params(exp: Experiment, model: ModelSpec) -> GenerationParams:
    merged = exp.spec.params.model_dump(exclude_none=True)
    if model.params is not None:
        merged.update(model.params.model_dump(exclude_unset=True, exclude_none=True))
    return GenerationParams.from_dict(merged)


def run_experiment(exp: Experiment, options: RunOptions | None = None) -> RunOutcome:
    """Query every request of the experiment, resuming or using the cache as asked."""
    options = options or RunOptions()
    home = harness_home(options.home)
    if exp.spec.finetune and not options.models:
        from harness._progress import StepBar
        from harness.finetune.experiment import ensure_finetuned

        ensure_finetuned(
            exp, options.home, log=lambda text: print(text, file=sys.stderr), progress=StepBar
        )
    plan = plan_run(exp, options, split=DEV if exp.split is not None else None)
    # The cache opens first: when it cannot, no run folder is left behind as "running".
    cache = ResponseCache(cache_path(home)) if options.use_cache else None
    done: dict[tuple[str, str, int], Result] = {}
    try:  # the run to work on, locked: the unfinished one when resuming, else a new one
        resumed = resume_run(home, exp.path, options.keep_errors) if options.resume else None
        if resumed is None:
            run, lock = _new_run(home, exp, plan, options)
        else:
            run, lock, done = resumed
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    try:
        return _run_claimed(exp, options, plan, run, cache, done, run.id if resumed else None)
    except BatchesSubmitted:
        run.update(status="waiting")  # on its batches: --resume collects them
        raise
    except BaseException as exc:
        failed = not isinstance(exc, KeyboardInterrupt)
        run.update(
            status="failed" if failed else "interrupted",
            failure=f"{type(exc).__name__}: {exc}" if failed else None,
        )
        raise
    finally:
        lock.release()
        if cache is not None:
            cache.close()


def _new_run(
    home: Path, exp: Experiment, plan: _Plan, options: RunOptions
) -> tuple[RunDir, RunLock]:
    for model in plan.models.values():
        key = model.options.get("api_key")
        if isinstance(key, str) and key:
            register_secret(key)  # a key written in the file stays out of the copy
    return new_run(
        home,
        exp.name,
        exp.path,
        exp.path.read_text("utf-8"),
        run_meta(
            exp,
            plan.variants,
            {k: m.id for k, m in plan.models.items()},
            {
                "variants": options.variants,
                "models": options.models,
                "repeats": options.repeats,
                "max_cost": options.max_cost,
            },
        ),
    )


def _run_claimed(
    exp: Experiment,
    options: RunOptions,
    plan: _Plan,
    run: RunDir,
    cache: ResponseCache | None,
    done: dict[tuple[str, str, int], Result],
    resumed_from: str | None,
) -> RunOutcome:
    journal = Journal(run.journal_path)
    try:
        resumed = run if resumed_from is not None else None
        execution = asyncio.run(_execute(plan, exp, options, cache, journal, done, run, resumed))
        results = _checked(exp, plan, execution, cache, options)
        if exp.split is not None and not execution.aborted:
            plan, execution, results = _confirm_heldout(
                exp, options, plan, execution, results, cache, journal, done, run, resumed
            )
    finally:
        journal.close()
        if cache is not None:
            cache.close()
    summary, selection = summarize_run(
        plan.variants, results, baseline=exp.spec.baseline, min_pass_rate=exp.spec.min_pass_rate
    )
    status = "aborted" if execution.aborted else "finished"
    requests = write_requests_record(run, exp, plan.tasks, results)
    run.write_results(results)
    summary_json = report_json(summary, [], selection)
    summary_json.pop("cases")
    run.write_json("summary.json", summary_json)
    # the learning curve needs every variant: a split run draws it from its dev cases
    on_dev = [r for r in results if r.split != HELDOUT]
    curve_png = save_curve(plan.variants, on_dev, run, exp.name)
    run.update(
        status=status,
        aborted=execution.aborted,
        stats=execution.stats.__dict__,
        finished=time.time(),
        best=summary.best,
    )
    report_html = write_report(
        run,
        options.home,
        results=results,
        summary=summary,
        selection=selection,
        requests=requests,
    )
    return RunOutcome(
        exp,
        plan.variants,
        results,
        execution.stats,
        run,
        summary,
        execution.aborted,
        resumed_from,
        plan.models,
        curve_png,
        report_html,
        selection,
    )


def _checked(
    exp: Experiment,
    plan: _Plan,
    execution: Execution,
    cache: ResponseCache | None,
    options: RunOptions,
) -> list[Result]:
    """The execution's results in plan order, with every check applied."""
    order = {t.id: i for i, t in enumerate(plan.tasks)}
    ranked = sorted(execution.results.items(), key=lambda item: order.get(item[0], 1 << 62))
    raw = [result for _, result in ranked]
    return check_run(exp, raw, cache=cache, home=options.home).results


def _confirm_heldout(
    exp: Experiment,
    options: RunOptions,
    plan: _Plan,
    execution: Execution,
    results: list[Result],
    cache: ResponseCache | None,
    journal: Journal,
    done: dict[tuple[str, str, int], Result],
    run: RunDir,
    resumed: RunDir | None,
) -> tuple[_Plan, Execution, list[Result]]:
    """The second step of a split run: choose on the dev results just checked, then run the
    winner, its ties and the baseline (every variant with ``all_heldout``) on the held-out
    cases, in the same run, journal, cache and budget."""
    dev = summarize(
        plan.variants, results, baseline=exp.spec.baseline, min_pass_rate=None, split=DEV
    )
    if dev.best is None:
        return plan, execution, results
    chosen = [v.id for v in plan.variants] if options.all_heldout else heldout_candidates(dev)
    heldout = plan_run(exp, options, split=HELDOUT, only=chosen)
    earlier = {**done, **execution.results}  # what the budget has spent so far
    more = asyncio.run(_execute(heldout, exp, options, cache, journal, earlier, run, resumed))
    both = Execution(
        {**execution.results, **more.results}, _added(execution.stats, more.stats), more.aborted
    )
    combined = _Plan(plan.variants, plan.models, plan.tasks + heldout.tasks, plan.prices)
    return combined, both, results + _checked(exp, heldout, more, cache, options)


def _added(first: RunStats, second: RunStats) -> RunStats:
    """Two steps' counts together; the cost is the second's, which already counts the first."""
    total = RunStats(**{k: getattr(first, k) + getattr(second, k) for k in first.__dict__})
    total.cost = second.cost
    return total


class Providers(dict[str, Provider]):
    """Providers created on first use: a fully cached run never builds a client."""

    def __init__(self, specs: Mapping[str, ModelSpec], home: Path | None) -> None:
        super().__init__()
        self._specs = specs
        self._home = home

    def __missing__(self, key: str) -> Provider:
        spec = self._specs[key]
        provider = create_provider(spec.ref, spec.options, home=self._home)
        self[key] = provider
        return provider

    async def aclose(self) -> None:
        for provider in self.values():
            await provider.aclose()


async def _execute(
    plan: _Plan,
    exp: Experiment,
    options: RunOptions,
    cache: ResponseCache | None,
    journal: Journal,
    done: dict[tuple[str, str, int], Result],
    run: RunDir,
    resumed: RunDir | None = None,
) -> Execution:
    spent = spent_by(done.values())
    budget = _budget(plan, options, resumed, spent)
    retry = RetryPolicy()
    if options.max_retry_after is not None:
        retry = RetryPolicy(max_retry_after=options.max_retry_after)
    providers = Providers(plan.models, options.home)
    used = {t.model for t in plan.tasks}
    concurrency = {
        key: options.concurrency
        or plan.models[key].concurrency
        or exp.spec.concurrency
        or provider_class(plan.models[key].ref.provider).default_concurrency
        for key in used
    }
    from harness._run.progress import Progress

    try:
        shown = sys.stderr.isatty() if options.progress is None else options.progress
        batched = await _batch_answers(plan, options, providers, cache, done, run, spent, shown)
        answered = batched.answered
        with Progress(len(plan.tasks), enabled=shown) as bar:
            execution = await execute(
                plan.tasks,
                providers,
                concurrency=concurrency,
                prices=plan.prices,
                cache=cache,
                journal=journal,
                done=done,
                budget=budget,
                spent=spent,
                retry=retry,
                on_result=bar.update,
                on_wait=bar.waiting,
                answered=answered,
                metered=_metered(plan.models, used),
            )
        if batched.note is not None and execution.aborted is None:
            execution.aborted = batched.note  # kept resumable, never silently finished
        return execution
    finally:
        await providers.aclose()


def _metered(models: Mapping[str, ModelSpec], used: set[str]) -> dict[str, str]:
    """Models priced by machine time (``compute_price``) that do not time their own answers
    (local models do): each timed on the machine serving it, its ``base_url``."""
    return {
        key: str(spec.options.get("base_url") or key)
        for key, spec in models.items()
        if key in used and spec.compute_price is not None and spec.ref.provider != "local"
    }


async def _batch_answers(
    plan: _Plan,
    options: RunOptions,
    providers: Providers,
    cache: ResponseCache | None,
    done: dict[tuple[str, str, int], Result],
    run: RunDir,
    spent: float,
    progress: bool,
) -> BatchAnswers:
    """The Batch API's answers for the models that use it (none when no model does)."""
    plans = batch_plans(
        plan.models,
        batch=options.batch,
        wait=options.batch_wait,
        resubmit=options.resubmit,
        direct_remainder=options.direct_remainder,
    )
    if not plans:
        return BatchAnswers({})
    run.update(batch=sorted(plans))  # the report says batch mode was used
    return await answer_by_batch(
        run,
        plan.tasks,
        plans,
        providers,
        cache,
        done,
        prices=plan.prices,
        max_cost=budget_limit(options.max_cost, run),
        spent=spent,
        progress=progress,
    )


def _budget(
    plan: _Plan, options: RunOptions, resumed: RunDir | None, spent: float
) -> Budget | None:
    """The run's budget (see :func:`budget_limit`), with exact prompt-token counters."""
    limit = budget_limit(options.max_cost, resumed)
    if limit is None:
        return None
    used = {t.model for t in plan.tasks}
    counters = {
        key: prompt_token_counter(plan.models[key].id)[0]
        for key in used
        if plan.prices.get(key) is not None
    }
    return Budget(limit, plan.prices, spent=spent, counters=counters)
