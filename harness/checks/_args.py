"""What each check accepts, checked before anything is sent.

A check whose argument is broken (a regex that does not compile, a number that is not a
number, a judge model no provider serves, a weight of "heavy") would otherwise fail at
check time — after the run has paid for every answer — or, negated, pass silently. Every
argument that is known statically is validated here; template values (``{{ ... }}``) are
only known per case, so the check stage turns their failures into result errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from harness.checks.evals_graders import as_flag

__all__ = ["assert_problems", "normaliser_problem"]

_NORMALISERS = ("strip", "lowercase", "first_line")


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _number(
    value: Any, what: str, *, low: float | None = None, high: float | None = None
) -> str | None:
    if _templated(value):
        return None
    if isinstance(value, (bool, dict, list)) or value is None:
        return f"{what} must be a number, not {value!r}"
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return f"{what} must be a number, not {value!r}"
    if not math.isfinite(number):
        return f"{what} must be a finite number, not {value!r}"
    if low is not None and number < low:
        return f"{what} must be at least {low:g}, not {value!r}"
    if high is not None and number > high:
        return f"{what} must be at most {high:g}, not {value!r}"
    return None


def _regex(value: Any, what: str) -> str | None:
    if not isinstance(value, str):
        return f"{what} must be a regular expression (a string), not {value!r}"
    if _templated(value):
        return None
    try:
        re.compile(value)
    except (re.error, OverflowError, RecursionError) as exc:
        return f"{what} {value!r} is not a valid regular expression: {exc}"
    return None


def normaliser_problem(step: Any) -> str | None:
    """Why ``step`` is not a normaliser (strip, lowercase, first_line, {extract: RE})."""
    if isinstance(step, str):
        if step in _NORMALISERS:
            return None
        return f"unknown normaliser {step!r} (strip, lowercase, first_line, {{extract: RE}})"
    if isinstance(step, Mapping) and set(step) == {"extract"}:
        return _regex(step["extract"], "extract")
    return f"a normaliser is strip, lowercase, first_line or {{extract: REGEX}}, not {step!r}"


def _mapping(
    arg: Any, allowed: Collection[str], required: Collection[str], name: str
) -> str | None:
    if not isinstance(arg, Mapping):
        return None
    unknown = [k for k in arg if k not in allowed]
    if unknown:
        return f"{name}: unknown option(s) {', '.join(map(str, unknown))} (allowed: {', '.join(allowed)})"
    missing = [k for k in required if k not in arg]
    if missing:
        return f"{name}: missing {', '.join(missing)}"
    return None


def _number_check(arg: Any) -> str | None:
    spec = arg if isinstance(arg, Mapping) else {"value": arg}
    return (
        _mapping(arg, ("value", "tolerance"), ("value",), "number")
        or _number(spec["value"], "number: value")
        or _number(spec.get("tolerance", 0), "number: tolerance", low=0)
    )


def _similar_check(arg: Any) -> str | None:
    spec = arg if isinstance(arg, Mapping) else {"value": arg}
    return _mapping(arg, ("value", "threshold"), ("value",), "similar") or _number(
        spec.get("threshold", 0.8), "similar: threshold", low=0, high=1
    )


def _json_field_check(arg: Any) -> str | None:
    if not isinstance(arg, Mapping):
        return "json_field needs {path: a.b[0], equals: VALUE}"
    return _mapping(arg, ("path", "equals"), ("path",), "json_field") or (
        None if isinstance(arg["path"], str) else "json_field: path must be a string"
    )


def _json_schema_check(arg: Any) -> str | None:
    if not isinstance(arg, Mapping):
        return "json_schema needs a JSON Schema (a mapping)"
    import jsonschema

    try:
        jsonschema.validators.validator_for(arg).check_schema(dict(arg))
    except jsonschema.SchemaError as exc:
        return f"json_schema is not a valid JSON Schema: {exc.message}"
    return None


def _python_check(arg: Any) -> str | None:
    target = arg.get("function") if isinstance(arg, Mapping) else arg
    error = _mapping(arg, ("function",), ("function",), "python")
    if error:
        return error
    if not isinstance(target, str) or not re.fullmatch(r"[\w.]+:\w+", target):
        return f"python names module:function, not {target!r}"
    return None


def _text_check(arg: Any) -> str | None:
    if isinstance(arg, Mapping):
        return "this check compares with a value, not a mapping"
    return None


def _ideals_problem(value: Any, what: str) -> str | None:
    """Why ``value`` is not an ideal or a non-empty list of ideals (strings)."""
    if isinstance(value, str):
        return None
    if isinstance(value, Mapping):
        return f"{what} takes an ideal or a list of ideals (strings), not a mapping"
    if not isinstance(value, list):
        return f"{what} takes an ideal or a list of ideals (strings), not {value!r}"
    if not value:
        return f"{what} needs at least one ideal (an empty list never matches)"
    for n, item in enumerate(value, start=1):
        if not isinstance(item, str):
            return f"{what}: ideal {n} must be a string, not {item!r}"
    return None


def _includes_check(arg: Any) -> str | None:
    if not isinstance(arg, Mapping):
        return _ideals_problem(arg, "includes")
    problem = _mapping(arg, ("value", "ignore_case"), ("value",), "includes")
    if problem:
        return problem
    flag = arg.get("ignore_case", False)
    if as_flag(flag) is None and not _templated(flag):
        return f"includes: ignore_case must be true or false, not {flag!r}"
    return _ideals_problem(arg["value"], "includes: value")


def _values_problem(arg: Any, name: str) -> str | None:
    """contains_any and kin: a list of values or one comma-separated string."""
    if isinstance(arg, str):
        return f"{name} needs a value" if arg == "" else None
    if not isinstance(arg, list):
        return f"{name} takes a list of values or one comma-separated string, not {arg!r}"
    for n, item in enumerate(arg, start=1):
        if isinstance(item, (Mapping, list)) or item is None:
            return f"{name}: value {n} must be text or a number, not {item!r}"
    return None


def _contains_json_check(arg: Any) -> str | None:
    if arg is None or arg == "" or as_flag(arg) is True:
        return None
    if not isinstance(arg, Mapping):
        return "contains_json takes nothing (any object) or a JSON Schema (a mapping)"
    return _json_schema_check(arg)


def _levenshtein_check(arg: Any) -> str | None:
    spec = arg if isinstance(arg, Mapping) else {"value": arg}
    problem = _mapping(arg, ("value", "threshold"), ("value",), "levenshtein")
    if problem:
        return problem
    if not isinstance(spec["value"], str):
        return f"levenshtein: value must be text, not {spec['value']!r}"
    return _number(spec.get("threshold", 5), "levenshtein: threshold", low=0)


_ARG_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "equals": lambda arg: None,
    "contains": _text_check,
    "icontains": _text_check,
    "starts_with": _text_check,
    "regex": lambda arg: _regex(arg, "regex"),
    "one_of": _text_check,
    "starts_with_any": lambda arg: _ideals_problem(arg, "starts_with_any"),
    "includes": _includes_check,
    "fuzzy_match": lambda arg: _ideals_problem(arg, "fuzzy_match"),
    "contains_any": lambda arg: _values_problem(arg, "contains_any"),
    "contains_all": lambda arg: _values_problem(arg, "contains_all"),
    "icontains_any": lambda arg: _values_problem(arg, "icontains_any"),
    "icontains_all": lambda arg: _values_problem(arg, "icontains_all"),
    "contains_json": _contains_json_check,
    "levenshtein": _levenshtein_check,
    "is_json": lambda arg: None,
    "json_schema": _json_schema_check,
    "json_field": _json_field_check,
    "number": _number_check,
    "similar": _similar_check,
    "python": _python_check,
    "max_latency_ms": lambda arg: _number(arg, "max_latency_ms", low=0),
    "max_cost": lambda arg: _number(arg, "max_cost", low=0),
}


def _judge_check(arg: Any, models: Callable[[str], str | None]) -> str | None:
    error = _mapping(arg, ("rubric", "model"), ("rubric",), "judge")
    if error:
        return error
    rubric = arg["rubric"] if isinstance(arg, Mapping) else arg
    if not isinstance(rubric, str) or not rubric.strip():
        return "judge needs a rubric (text saying what a passing answer does)"
    model = arg.get("model") if isinstance(arg, Mapping) else None
    if model is None or _templated(model):
        return None
    return models(str(model))


def assert_problems(
    entry: Mapping[str, Any], judge_model: Callable[[str], str | None]
) -> list[str]:
    """Problems with one well-shaped assertion's argument and modifiers.

    ``judge_model(id)`` says why a judge model cannot be used, or None when it can.
    """
    from harness.checks._spec import split_assert

    name, _, arg = split_assert(entry)
    problems: list[str] = []
    label = next(k for k in entry if k not in ("weight", "normalize"))
    found = _judge_check(arg, judge_model) if name == "judge" else _ARG_CHECKS[name](arg)
    if found:
        problems.append(f"{label}: {found}" if not found.startswith(name) else found)
    if "weight" in entry:
        weight = entry["weight"]
        found = (
            f"weight must be a number, not a template ({weight!r})"
            if _templated(weight)
            else _number(weight, "weight", low=0)
        )
        if found:
            problems.append(found)
    if "normalize" in entry:
        steps = entry["normalize"]
        if not isinstance(steps, list):
            problems.append(
                f"normalize must be a list of steps, e.g. `normalize: [{steps}]`, not {steps!r}"
            )
        else:
            problems.extend(p for p in map(normaliser_problem, steps) if p)
    return problems
