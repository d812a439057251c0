"""The check stage of a run: judge requests through the runner, then every check."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness._run.cache import ResponseCache, request_key
from harness._run.runner import Task, execute
from harness.checks._spec import split_assert
from harness.checks.builtin import CheckError, Verdict
from harness.checks.evaluate import ArgRenderer, check_result
from harness.checks.judge import judge_messages, judge_model, parse_verdict
from harness.errors import HarnessError
from harness.experiment import Experiment, ModelSpec
from harness.experiment.trust import local_model_paths
from harness.models.base import GenerationParams, ModelRequest
from harness.models.pricing import price_for
from harness.models.registry import create_provider, model_identity
from harness.results import Result

__all__ = ["CheckedRun", "check_run"]

_JUDGE_PARAMS = GenerationParams(temperature=0.0, max_tokens=160)
# Servers that take it are asked for a JSON object; the verdict parser accepts either form.
_JSON_REPLY = {"type": "json_object"}


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
    checked = _check_all(exp, results, args, judgements, _python_functions(exp))
    return CheckedRun(checked, judge_count)


def _import_check_dependencies() -> None:
    """Every third-party module a check needs, imported before an experiment folder is put
    on the import path for ``python`` checks: a ``rapidfuzz.py`` beside a file never runs.
    (Without ``python`` checks no experiment folder is ever on the import path.)"""
    import jsonschema  # noqa: F401
    import rapidfuzz.fuzz  # noqa: F401


def _python_functions(exp: Experiment) -> dict[str, Callable[..., Any] | str]:
    """``python: module:function`` targets (allowed by --allow-python at validation).

    The experiment's folder is on the import path only while these are imported, and after
    the installed packages, so it cannot shadow the standard library or a dependency.
    """
    targets = {
        str(raw["function"] if isinstance(raw, dict) else raw)
        for entry in [*exp.spec.tests.asserts, *(a for c in exp.cases for a in c.asserts)]
        for name, _, raw in [split_assert(entry)]
        if name == "python"
    }
    if not targets:
        return {}
    _import_check_dependencies()
    folder = str(exp.path.resolve().parent)
    found: dict[str, Callable[..., Any] | str] = {}
    sys.path.append(folder)
    try:
        for target in sorted(targets):
            module_name, _, attr = target.partition(":")
            try:
                func = getattr(importlib.import_module(module_name), attr)
            except Exception as exc:  # noqa: BLE001 - user code: its failure is the check's error
                found[target] = f"cannot import {target}: {type(exc).__name__}: {exc}"
                continue
            found[target] = func if callable(func) else f"{target} is not a function"
    finally:
        sys.path.remove(folder)
    return found


def _check_all(
    exp: Experiment,
    results: Sequence[Result],
    args: ArgRenderer,
    judgements: dict[tuple[str, int], Verdict | str],
    functions: dict[str, Callable[..., Any] | str],
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
            functions=functions,
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
) -> tuple[dict[tuple[str, int], Verdict | str], int]:
    """Every judge verdict, or why there is none (which makes the result an error)."""
    cases = {c.id: c for c in exp.cases}
    known = {m.key: m for m in exp.spec.models} | {m.id: m for m in exp.spec.models}
    tasks: dict[str, Task] = {}
    owners: dict[str, list[tuple[str, int]]] = {}
    specs: dict[str, ModelSpec] = {}
    verdicts: dict[tuple[str, int], Verdict | str] = {}
    for r in results:
        if r.output is None or r.case not in cases:
            continue
        case = cases[r.case]
        for index, entry in enumerate([*exp.spec.tests.asserts, *case.asserts]):
            name, _, raw = split_assert(entry)
            if name != "judge":
                continue
            try:
                arg = args.render(raw, case.vars)
                model = judge_model(arg)
                if model not in known and _rendered_path(raw, model):
                    raise HarnessError(
                        f"judge model {model!r} is a path made by a template; a file may "
                        "only name model files it was checked for: write it out, or list it "
                        "in models:"
                    )
                spec = specs.get(model) or known.get(model) or ModelSpec.model_validate(model)
                specs[model] = spec
                identity = model_identity(spec.ref, spec.options)
            except Exception as exc:  # noqa: BLE001 - a broken judge is this result's error
                verdicts[(r.key, index)] = f"judge unavailable: {getattr(exc, 'message', exc)}"
                continue
            messages = judge_messages(arg, case.vars, r.output)
            params = _judge_params(spec, structured=True)
            key = request_key(identity, messages, params, 0)
            if key not in tasks:
                request = ModelRequest(messages, params)
                tasks[key] = Task(key, f"judge/{len(tasks)}/{model}", r.case, 0, model, request)
            owners.setdefault(key, []).append((r.key, index))
    if not tasks:
        return verdicts, 0
    done = _ask(list(tasks.values()), specs, cache, home)
    # A server that refuses response_format (HTTP 400) is asked again without it.
    refused = [t for t in tasks.values() if "HTTP 400" in str(_error(done, t))]
    if refused:
        retried = [_without_response_format(t, specs[t.model]) for t in refused]
        again = _ask(retried, specs, cache, home)
        for old, new in zip(refused, retried, strict=True):
            done[old.id] = again.get(new.id) or done[old.id]
    for key, owned in owners.items():
        verdict = _verdict(done, tasks[key])
        for owner in owned:
            verdicts[owner] = verdict
    return verdicts, len(tasks) + len(refused)


def _rendered_path(raw: object, model: str) -> bool:
    """Whether a templated judge model renders to a model file: a path the validation could
    not check against the project (templates may draw at random), so never loaded."""
    written = raw.get("model") if isinstance(raw, Mapping) else None
    templated = isinstance(written, str) and ("{{" in written or "{%" in written)
    return templated and bool(local_model_paths(model))


def _judge_params(spec: ModelSpec, *, structured: bool) -> GenerationParams:
    json_reply = structured and spec.ref.provider == "openai"
    return replace(_JUDGE_PARAMS, response_format=_JSON_REPLY) if json_reply else _JUDGE_PARAMS


def _without_response_format(task: Task, spec: ModelSpec) -> Task:
    identity = model_identity(spec.ref, spec.options)
    params = _judge_params(spec, structured=False)
    key = request_key(identity, task.request.messages, params, 0)
    request = ModelRequest(task.request.messages, params)
    return Task(key, f"{task.variant}/plain", task.case, 0, task.model, request)


def _error(done: dict[tuple[str, str, int], Result | str], task: Task) -> str | None:
    found = done.get(task.id)
    if found is None:
        return "not run"
    return found if isinstance(found, str) else found.error


def _verdict(done: dict[tuple[str, str, int], Result | str], task: Task) -> Verdict | str:
    found = done.get(task.id)
    if not isinstance(found, Result) or found.output is None:
        return f"judge request failed: {_error(done, task)}"
    try:
        return parse_verdict(found.output)
    except CheckError as exc:
        return str(exc)


def _ask(
    tasks: list[Task],
    specs: dict[str, ModelSpec],
    cache: ResponseCache | None,
    home: Path | None,
) -> dict[tuple[str, str, int], Result | str]:
    """Judge answers by task id; when the judge cannot be reached at all, why, for each."""
    used = {t.model for t in tasks}

    async def run() -> dict[tuple[str, str, int], Result]:
        providers = {m: create_provider(specs[m].ref, specs[m].options, home=home) for m in used}
        try:
            execution = await execute(
                tasks,
                providers,
                concurrency={m: type(p).default_concurrency for m, p in providers.items()},
                prices={m: price_for(specs[m].id, specs[m].price) for m in used},
                cache=cache,
            )
        finally:
            for provider in providers.values():
                await provider.aclose()
        if execution.aborted:
            for task in tasks:
                execution.results.setdefault(task.id, _missing(task, execution.aborted))
        return execution.results

    try:
        return dict(asyncio.run(run()))
    except Exception as exc:  # noqa: BLE001 - e.g. no API key: every verdict is an error
        why = f"{type(exc).__name__}: {exc}" if not isinstance(exc, HarnessError) else str(exc)
        return {t.id: why for t in tasks}


def _missing(task: Task, why: str) -> Result:
    return Result(task.variant, task.case, 0, task.key, None, error=why)
