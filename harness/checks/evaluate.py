"""Turning a model output into pass/fail: normalise, run each check, combine.

A case passes when every check passes; with weights and a ``threshold``, when the weighted
mean score reaches it. Every check's verdict and reason are kept on the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from harness.checks._spec import split_assert
from harness.checks.builtin import CHECKS, CheckContext, CheckError, Verdict
from harness.errors import Location
from harness.results import CheckOutcome, Result
from harness.templating import CompiledTemplate, TemplateError, compile_template

__all__ = ["ArgRenderer", "JudgeVerdicts", "check_result", "normalise_output"]

#: (result key, assertion index) -> the judge's verdict, or why there is none.
JudgeVerdicts = Mapping[tuple[str, int], Verdict | str]


def normalise_output(output: str, steps: Sequence[Any]) -> str:
    """Apply normalisers in order: strip, lowercase, first_line, {extract: regex}."""
    for step in steps:
        if step == "strip":
            output = output.strip()
        elif step == "lowercase":
            output = output.casefold()
        elif step == "first_line":
            output = output.strip().split("\n", 1)[0].strip() if output.strip() else ""
        elif isinstance(step, Mapping) and "extract" in step:
            match = re.search(str(step["extract"]), output)
            if match is None:
                output = ""
            else:
                output = match.group(1) if match.re.groups else match.group(0)
    return output


class ArgRenderer:
    """Renders check arguments (Jinja templates over the case's fields), each compiled once.

    A run renders arguments with it and validation renders every case's arguments through
    it too, so both walk an argument (strings, mappings, lists) the same way.
    """

    def __init__(self, file: str) -> None:
        self._file = file
        self._compiled: dict[str, CompiledTemplate] = {}

    def compile(self, value: Any, location: Location | None = None) -> list[TemplateError]:
        """Compile the templates in ``value`` now; the errors, located at ``location``."""
        if isinstance(value, str):
            try:
                if "{" in value:
                    self._template(value, location)
            except TemplateError as exc:
                return [exc]
            return []
        return [e for v in _children(value) for e in self.compile(v, location)]

    def render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            return value if "{" not in value else self._template(value).render(variables)
        if isinstance(value, Mapping):
            return {k: self.render(v, variables) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, variables) for v in value]
        return value

    def _template(self, text: str, location: Location | None = None) -> CompiledTemplate:
        template = self._compiled.get(text)
        if template is None:
            where = location or Location(self._file)
            compiled = compile_template(text, file=where.file, line=where.line, col=where.col)
            template = self._compiled[text] = compiled[None]
        return template


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    return value if isinstance(value, list) else []


def check_result(
    result: Result,
    case_vars: Mapping[str, Any],
    asserts: Sequence[Mapping[str, Any]],
    *,
    normalize: Sequence[Any] = (),
    threshold: float | None = None,
    args: ArgRenderer,
    judgements: JudgeVerdicts | None = None,
    functions: Mapping[str, Callable[..., Any] | str] | None = None,
) -> Result:
    """``result`` with ``passed``, ``score`` and every check's outcome filled in.

    A check that cannot be evaluated (a broken argument, an unreachable judge, a crash) makes
    the result an error — negated or not, it never counts as a pass — and the run goes on.
    """
    if result.error is not None or result.output is None:
        return replace(result, passed=None, score=None, checks=())
    ctx = CheckContext(case_vars, result, result.output, functions or {})
    outcomes: list[CheckOutcome] = []
    broken: list[str] = []
    try:
        output = normalise_output(result.output, normalize)
    except Exception as exc:  # noqa: BLE001 - validated up front; never end the run
        return _unscorable(result, (), f"normalize: {type(exc).__name__}: {exc}")
    for index, entry in enumerate(asserts):
        name, negate, raw = split_assert(entry)
        label = f"not_{name}" if negate else name
        try:
            weight = float(entry.get("weight", 1.0))
            text = normalise_output(output, entry.get("normalize", ()))
            arg = args.render(raw, case_vars)
            if name == "judge":
                verdict = (judgements or {}).get((result.key, index))
                passed, reason, score = CHECKS[name](text, arg, replace(ctx, judgement=verdict))
            else:
                passed, reason, score = CHECKS[name](text, arg, ctx)
        except TemplateError as exc:
            broken.append(f"{label}: check argument: {exc.message}")
            outcomes.append(CheckOutcome(label, False, f"error: {exc.message}", None, 1.0, True))
            continue
        except Exception as exc:  # noqa: BLE001 - a broken check is an error, with its reason
            message = str(exc) if isinstance(exc, CheckError) else f"{type(exc).__name__}: {exc}"
            broken.append(f"{label}: {message}")
            outcomes.append(CheckOutcome(label, False, f"error: {message}", None, 1.0, True))
            continue
        if negate:
            passed = not passed
            reason = "" if passed else f"not_{name} failed: the output satisfies {name}"
            score = None if score is None else 1.0 - score
        outcomes.append(CheckOutcome(label, passed, reason, score, weight))
    if broken:
        return _unscorable(result, outcomes, "; ".join(broken))
    scores = [(o.score if o.score is not None else float(o.passed), o.weight) for o in outcomes]
    total = sum(w for _, w in scores)
    score = sum(s * w for s, w in scores) / total if total else 1.0
    passed = score >= threshold if threshold is not None else all(o.passed for o in outcomes)
    return replace(result, passed=passed, score=score, checks=tuple(outcomes))


def _unscorable(result: Result, outcomes: Sequence[CheckOutcome], why: str) -> Result:
    return replace(
        result,
        passed=None,
        score=None,
        checks=tuple(outcomes),
        error=f"check error (not scored): {why}",
    )
