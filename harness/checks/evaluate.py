"""Turning a model output into pass/fail: normalise, run each check, combine.

A case passes when every check passes; with weights and a ``threshold``, when the weighted
mean score reaches it. Every check's verdict and reason are kept on the result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from harness.checks._spec import split_assert
from harness.checks.builtin import CHECKS, CheckContext, Verdict
from harness.results import CheckOutcome, Result
from harness.templating import CompiledTemplate, TemplateError, compile_template

__all__ = ["ArgRenderer", "JudgeVerdicts", "check_result", "normalise_output"]

JudgeVerdicts = Mapping[tuple[str, int], Verdict]


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
    """Renders check arguments (Jinja templates over the case's fields), compiled once."""

    def __init__(self, file: str) -> None:
        self._file = file
        self._compiled: dict[str, CompiledTemplate] = {}

    def render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            if "{" not in value:
                return value
            template = self._compiled.get(value)
            if template is None:
                template = compile_template(value, file=self._file)[None]
                self._compiled[value] = template
            return template.render(variables)
        if isinstance(value, Mapping):
            return {k: self.render(v, variables) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, variables) for v in value]
        return value


def check_result(
    result: Result,
    case_vars: Mapping[str, Any],
    asserts: Sequence[Mapping[str, Any]],
    *,
    normalize: Sequence[Any] = (),
    threshold: float | None = None,
    args: ArgRenderer,
    judgements: JudgeVerdicts | None = None,
) -> Result:
    """``result`` with ``passed``, ``score`` and every check's outcome filled in."""
    if result.error is not None or result.output is None:
        return replace(result, passed=None, score=None, checks=())
    output = normalise_output(result.output, normalize)
    ctx = CheckContext(case_vars, result, result.output)
    outcomes: list[CheckOutcome] = []
    for index, entry in enumerate(asserts):
        name, negate, raw = split_assert(entry)
        weight = float(entry.get("weight", 1.0))
        text = normalise_output(output, entry.get("normalize", ()))
        try:
            arg = args.render(raw, case_vars)
            if name == "judge":
                passed, reason, score = (judgements or {}).get(
                    (result.key, index), (False, "judge verdict missing", None)
                )
            else:
                passed, reason, score = CHECKS[name](text, arg, ctx)
        except TemplateError as exc:
            passed, reason, score = False, f"check argument: {exc.message}", None
        except Exception as exc:  # noqa: BLE001 - a broken check fails, with its reason
            passed, reason, score = False, f"check error: {type(exc).__name__}: {exc}", None
        if negate:
            passed = not passed
            reason = "" if passed else f"not_{name} failed: the output satisfies {name}"
            score = None if score is None else 1.0 - score
        label = f"not_{name}" if negate else name
        outcomes.append(CheckOutcome(label, passed, reason, score, weight))
    scores = [(o.score if o.score is not None else float(o.passed), o.weight) for o in outcomes]
    total = sum(w for _, w in scores)
    score = sum(s * w for s, w in scores) / total if total else 1.0
    passed = score >= threshold if threshold is not None else all(o.passed for o in outcomes)
    return replace(result, passed=passed, score=score, checks=tuple(outcomes))
