"""Every built-in check, negation, normalisers, weights and thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.evaluate import ArgRenderer, check_result, normalise_output
from harness.checks.judge import parse_verdict
from harness.results import Result

CASE = {"expected": "2019-10-24", "name": "Ana", "age": 34, "answer": "Paris"}


def result(output: str | None, **kw: Any) -> Result:
    return Result(variant="v", case="c", repeat=0, key="k", output=output, **kw)


def verdict(output: str, entry: dict[str, Any], **kw: Any) -> tuple[bool | None, str]:
    checked = check_result(result(output, **kw), CASE, [entry], args=ArgRenderer("t.yaml"))
    return checked.passed, checked.checks[0].reason


@pytest.mark.parametrize(
    ("output", "entry", "passes"),
    [
        ("2019-10-24", {"equals": "{{ expected }}"}, True),
        ("2019-10-24.", {"equals": "{{ expected }}"}, False),
        ("The date is 2019-10-24", {"contains": "{{ expected }}"}, True),
        ("PARIS!", {"icontains": "{{ answer }}"}, True),
        ("Paris is", {"starts_with": "Paris"}, True),
        ("id 4521", {"regex": r"\d{4}"}, True),
        ("maybe", {"one_of": ["yes", "no"]}, False),
        ('{"a": 1}', {"is_json": True}, True),
        ("{a: 1}", {"is_json": True}, False),
        (
            '{"name": "Ana", "age": 34}',
            {"json_field": {"path": "name", "equals": "{{ name }}"}},
            True,
        ),
        (
            '{"name": "Ana", "age": 34}',
            {"json_field": {"path": "age", "equals": "{{ age }}"}},
            True,
        ),
        ('{"p": [{"q": 2}]}', {"json_field": {"path": "p[0].q", "equals": 2}}, True),
        ('{"name": "Bo"}', {"json_field": {"path": "name", "equals": "{{ name }}"}}, False),
        ('{"age": 3}', {"json_schema": {"type": "object", "required": ["name"]}}, False),
        ('{"name": "x"}', {"json_schema": {"type": "object", "required": ["name"]}}, True),
        ("about 3.14159", {"number": {"value": 3.14, "tolerance": 0.01}}, True),
        ("1,000 items", {"number": 1000}, True),
        ("no digits", {"number": 1}, False),
        ("colour", {"similar": {"value": "color", "threshold": 0.8}}, True),
        ("banana", {"similar": "color"}, False),
        ("Paris", {"not_contains": "London"}, True),
        ("London", {"not_contains": "London"}, False),
    ],
)
def test_checks(output: str, entry: dict[str, Any], passes: bool) -> None:
    passed, reason = verdict(output, entry)
    assert passed is passes
    assert bool(reason) is not passes  # a failure always says why


def test_failure_reason_quotes_expected_and_got() -> None:
    _, reason = verdict("2019-10-25", {"equals": "{{ expected }}"})
    assert reason == "expected '2019-10-24', got '2019-10-25'"


def test_latency_and_cost_checks() -> None:
    assert verdict("x", {"max_latency_ms": 100}, latency_ms=50.0)[0] is True
    assert verdict("x", {"max_latency_ms": 100}, latency_ms=150.0)[0] is False
    assert verdict("x", {"max_cost": 0.01}, cost=0.02)[0] is False
    assert verdict("x", {"max_cost": 0.01})[0] is False  # unknown cost never passes


def test_normalisers() -> None:
    text = "  The date is 1999-07-02.\nHope that helps  "
    assert normalise_output(text, ["strip", "first_line"]) == "The date is 1999-07-02."
    assert normalise_output(text, [{"extract": r"(\d{4}-\d{2}-\d{2})"}]) == "1999-07-02"
    assert normalise_output("ABC", ["lowercase"]) == "abc"
    assert normalise_output("none here", [{"extract": r"\d+"}]) == ""


def test_all_checks_must_pass_unless_threshold() -> None:
    entries = [{"contains": "a", "weight": 3}, {"contains": "z", "weight": 1}]
    args = ArgRenderer("t.yaml")
    strict = check_result(result("abc"), CASE, entries, args=args)
    assert strict.passed is False and strict.score == pytest.approx(0.75)
    lenient = check_result(result("abc"), CASE, entries, threshold=0.7, args=args)
    assert lenient.passed is True
    assert [c.passed for c in lenient.checks] == [True, False]


def test_errors_are_not_checked() -> None:
    checked = check_result(
        result(None, error="HTTP 500"), CASE, [{"equals": "x"}], args=ArgRenderer("t.yaml")
    )
    assert checked.passed is None and checked.checks == ()


def test_python_check(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mychecks.py").write_text(
        "def is_upper(output, case):\n    return output.isupper(), 'not upper case'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import mychecks  # type: ignore[import-not-found]

    functions = {"mychecks:is_upper": mychecks.is_upper}
    for output, expected in (("ABC", (True, "")), ("abc", (False, "not upper case"))):
        checked = check_result(
            result(output),
            CASE,
            [{"python": "mychecks:is_upper"}],
            args=ArgRenderer("t.yaml"),
            functions=functions,
        )
        assert (checked.passed, checked.checks[0].reason) == expected


def test_judge_verdict_parsing_keeps_reasoning() -> None:
    passed, reason, _ = parse_verdict("The reply is polite and correct.\nVERDICT: PASS")
    assert passed and "polite" in reason
    assert parse_verdict('{"reasoning": "Rude.", "verdict": "FAIL"}')[:2] == (False, "judge: Rude.")
    assert parse_verdict('```json\n{"reasoning": "ok", "verdict": "pass"}\n```')[0] is True
