"""The built-in checks. Each takes the (normalised) output and its rendered argument.

A check returns ``(passed, reason, score)``; the reason is what a person reads when it
fails, so it quotes what was expected and what came back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.checks.evals_graders import fuzzy_match, includes, starts_with_any
from harness.checks.promptfoo_checks import (
    contains_all,
    contains_any,
    contains_json,
    icontains_all,
    icontains_any,
    levenshtein,
)

# CheckError is defined with the rest of the family in harness.errors; re-exported here.
from harness.errors import CheckError
from harness.results import Result

__all__ = ["CHECKS", "CheckContext", "CheckError", "Verdict", "short"]

Verdict = tuple[bool, str, float | None]


@dataclass(frozen=True)
class CheckContext:
    case_vars: Mapping[str, Any]
    result: Result
    raw_output: str
    #: ``python`` check targets, imported before checking: the function, or why not.
    functions: Mapping[str, Callable[..., Any] | str] = field(default_factory=dict)
    #: For a ``judge`` check: the verdict the judge model gave before checking, or why not.
    judgement: Verdict | str | None = None


def short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", "\\n")
    return repr(text) if len(text) <= limit else repr(text[: limit - 1] + "…")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def equals(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    ok = output == _text(arg)
    return ok, "" if ok else f"expected {short(_text(arg))}, got {short(output)}", None


def contains(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    ok = _text(arg) in output
    return ok, "" if ok else f"{short(output)} does not contain {short(_text(arg))}", None


def icontains(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    ok = _text(arg).casefold() in output.casefold()
    return (
        ok,
        "" if ok else f"{short(output)} does not contain {short(_text(arg))} (any case)",
        None,
    )


def starts_with(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    ok = output.startswith(_text(arg))
    return ok, "" if ok else f"{short(output)} does not start with {short(_text(arg))}", None


def regex(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    ok = re.search(_text(arg), output) is not None
    return ok, "" if ok else f"{short(output)} does not match /{_text(arg)}/", None


def one_of(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    options = [_text(a) for a in (arg if isinstance(arg, list) else [arg])]
    ok = output in options
    return ok, "" if ok else f"{short(output)} is not one of {short(options)}", None


def _parse_json(output: str) -> tuple[Any, str | None]:
    try:
        return json.loads(output), None
    except ValueError as exc:
        return None, f"not valid JSON ({exc.args[0] if exc.args else exc}): {short(output)}"


def is_json(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    _, problem = _parse_json(output)
    return problem is None, problem or "", None


def json_schema(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    import jsonschema  # imported by the check stage before any experiment folder is touched

    data, problem = _parse_json(output)
    if problem:
        return False, problem, None
    try:
        jsonschema.validate(data, arg)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return False, f"schema violation at {where}: {exc.message}", None
    return True, "", None


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """``a.b[0].c`` inside parsed JSON; (found, value)."""
    for name, index in _PATH_PART.findall(path):
        if index:
            if not isinstance(data, list) or int(index) >= len(data):
                return False, None
            data = data[int(index)]
        elif isinstance(data, dict) and name in data:
            data = data[name]
        else:
            return False, None
    return True, data


def _same(got: Any, want: Any) -> bool:
    if got == want:
        return True
    if isinstance(want, str) and not isinstance(got, str):  # templates render to strings
        return _text(got) == want
    return False


def json_field(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    data, problem = _parse_json(output)
    if problem:
        return False, problem, None
    path = str(arg["path"])
    found, got = lookup(data, path)
    if not found:
        return False, f"no field {path!r} in {short(output)}", None
    if "equals" not in arg:
        return True, "", None
    ok = _same(got, arg["equals"])
    return ok, "" if ok else f"{path}: expected {short(arg['equals'])}, got {short(got)}", None


_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def number(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    spec = arg if isinstance(arg, Mapping) else {"value": arg}
    want = float(spec["value"])
    tolerance = float(spec.get("tolerance", 0))
    match = _NUMBER.search(output)
    if match is None:
        return False, f"no number in {short(output)}", None
    got = float(match.group().replace(",", ""))
    ok = math.isclose(got, want, abs_tol=tolerance) or abs(got - want) <= tolerance
    return ok, "" if ok else f"expected {want:g} ± {tolerance:g}, got {got:g}", None


def similar(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    from rapidfuzz import fuzz  # imported by the check stage before any experiment folder

    spec = arg if isinstance(arg, Mapping) else {"value": arg}
    threshold = float(spec.get("threshold", 0.8))
    score = fuzz.ratio(output, _text(spec["value"])) / 100
    ok = score >= threshold
    reason = (
        "" if ok else f"similarity {score:.2f} < {threshold:g} to {short(_text(spec['value']))}"
    )
    return ok, reason, score


def max_latency_ms(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    latency = ctx.result.latency_ms
    if latency is None:
        return False, "latency unknown", None
    ok = latency <= float(arg)
    return ok, "" if ok else f"latency {latency:.0f} ms > {float(arg):g} ms", None


def max_cost(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    cost = ctx.result.cost
    if cost is None:
        return False, "cost unknown (no price for this model)", None
    ok = cost <= float(arg)
    return ok, "" if ok else f"cost ${cost:.6f} > ${float(arg):g}", None


def python(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    target = str(arg["function"] if isinstance(arg, Mapping) else arg)
    func = ctx.functions.get(target, f"{target} was not imported")
    if isinstance(func, str):
        raise CheckError(func)
    value = func(output, dict(ctx.case_vars))
    if isinstance(value, tuple):
        ok, reason = bool(value[0]), str(value[1])
        return ok, "" if ok else reason, None
    if isinstance(value, bool):
        return value, "" if value else f"{target} returned False", None
    score = float(value)
    return score >= 0.5, "" if score >= 0.5 else f"{target} scored {score:.2f}", score


def judge(output: str, arg: Any, ctx: CheckContext) -> Verdict:
    """A model's verdict: asked before checking (:mod:`harness.checks.judge`), read here."""
    if ctx.judgement is None or isinstance(ctx.judgement, str):
        raise CheckError(ctx.judgement or "judge verdict missing")
    return ctx.judgement


#: Every check by name: validation, the checks stage and the docs all read this one table.
CHECKS: dict[str, Callable[[str, Any, CheckContext], Verdict]] = {
    "equals": equals,
    "contains": contains,
    "icontains": icontains,
    "starts_with": starts_with,
    "regex": regex,
    "one_of": one_of,
    "starts_with_any": starts_with_any,  # OpenAI Evals' Match, Includes and FuzzyMatch
    "includes": includes,
    "fuzzy_match": fuzzy_match,
    "contains_any": contains_any,  # promptfoo's rules, for `harness import promptfoo`
    "contains_all": contains_all,
    "icontains_any": icontains_any,
    "icontains_all": icontains_all,
    "contains_json": contains_json,
    "levenshtein": levenshtein,
    "is_json": is_json,
    "json_schema": json_schema,
    "json_field": json_field,
    "number": number,
    "similar": similar,
    "max_latency_ms": max_latency_ms,
    "max_cost": max_cost,
    "python": python,
    "judge": judge,
}
