"""The check stage of a run: judge requests through the runner, then every check."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness._run.cache import ResponseCache, request_key
from harness._run.runner import Task, execute
from harness.checks._spec import split_assert
from harness.checks.builtin import Verdict
from harness.checks.evaluate import ArgRenderer, check_result
from harness.checks.judge import judge_messages, judge_model, parse_verdict
from harness.experiment import Experiment, ModelSpec
from harness.models.base import ModelRequest
from harness.models.pricing import price_for
from harness.models.registry import create_provider, provider_class
from harness.results import Result

__all__ = ["CheckedRun", "check_run"]

_JUDGE_PARAMS = {"temperature": 0.0, "max_tokens": 96}


@dataclass
class CheckedRun:
    results: list[Result]
    judge_requests: int = 0


def check_run(
    exp: Experiment,
    results: Sequence[Result],
    *,
    cache: ResponseCache | None = None,
    home: Path | None = None,
) -> CheckedRun:
    """Apply every check (default and per-case) to every result."""
    args = ArgRenderer(exp.display)
    judgements, judge_count = _judge(exp, results, args, cache, home)
    # `python: module:function` names modules beside the experiment file.
    folder = str(exp.path.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        checked = _check_all(exp, results, args, judgements)
    finally:
        if added:
            sys.path.remove(folder)
    return CheckedRun(checked, judge_count)


def _check_all(
    exp: Experiment,
    results: Sequence[Result],
    args: ArgRenderer,
    judgements: dict[tuple[str, int], Verdict],
) -> list[Result]:
    cases = {c.id: c for c in exp.cases}
    tests = exp.spec.tests
    return [
        check_result(
            r,
            cases[r.case].vars,
            [*tests.asserts, *cases[r.case].asserts],
            normalize=tests.normalize,
            threshold=tests.threshold,
            args=args,
            judgements=judgements,
        )
        if r.case in cases
        else r
        for r in results
    ]


def _judge(
    exp: Experiment,
    results: Sequence[Result],
    args: ArgRenderer,
    cache: ResponseCache | None,
    home: Path | None,
) -> tuple[dict[tuple[str, int], Verdict], int]:
    cases = {c.id: c for c in exp.cases}
    tasks: list[Task] = []
    owners: dict[str, list[tuple[str, int]]] = {}
    specs: dict[str, ModelSpec] = {}
    tasks_by_key: dict[str, Task] = {}
    for r in results:
        if r.output is None or r.case not in cases:
            continue
        case = cases[r.case]
        for index, entry in enumerate([*exp.spec.tests.asserts, *case.asserts]):
            name, _, raw = split_assert(entry)
            if name != "judge":
                continue
            arg = args.render(raw, case.vars)
            model = judge_model(arg)
            known = {m.key: m for m in exp.spec.models} | {m.id: m for m in exp.spec.models}
            spec = specs.setdefault(model, known.get(model) or ModelSpec.model_validate(model))
            messages = judge_messages(arg, case.vars, r.output)
            identity = provider_class(model.partition(":")[0]).identity_for(spec)
            key = request_key(identity, messages, _JUDGE_PARAMS, 0)
            if key not in owners:
                task = Task(
                    key,
                    f"judge/{len(tasks)}/{model}",
                    r.case,
                    0,
                    model,
                    ModelRequest(messages, _JUDGE_PARAMS),
                )
                tasks_by_key[key] = task
                tasks.append(task)
            owners.setdefault(key, []).append((r.key, index))
    if not tasks:
        return {}, 0

    async def run() -> dict[tuple[str, str, int], Result]:
        providers = {m: create_provider(s) for m, s in specs.items()}
        for provider in providers.values():
            provider.home = home
        for provider in providers.values():
            provider.home = home
        try:
            execution = await execute(
                tasks,
                providers,
                concurrency={m: type(p).default_concurrency for m, p in providers.items()},
                prices={m: price_for(s) for m, s in specs.items()},
                cache=cache,
            )
        finally:
            for provider in providers.values():
                await provider.aclose()
        return execution.results

    done = asyncio.run(run())
    verdicts: dict[tuple[str, int], Verdict] = {}
    for key, owned in owners.items():
        task = tasks_by_key[key]
        result = done.get(task.id)
        verdict: Verdict
        if result is None or result.output is None:
            verdict = (
                False,
                f"judge request failed: {result.error if result else 'not run'}",
                None,
            )
        else:
            verdict = parse_verdict(result.output)
        for owner in owned:
            verdicts[owner] = verdict
    return verdicts, len(tasks)
