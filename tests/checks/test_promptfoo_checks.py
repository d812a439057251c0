"""promptfoo's assertion rules (see tests/importers/fixtures/promptfoo/SEMANTICS.md), where
they differ from a naive reading: comma parsing, empty lists, objects-only JSON extraction,
the shortest parseable slice, UTF-16 edit distances."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks._args import assert_problems
from harness.checks.builtin import CHECKS
from harness.checks.promptfoo_checks import extract_json_objects, parse_comma_separated
from harness.errors import CheckError


def _check(name: str, output: str, arg: Any) -> bool:
    return CHECKS[name](output, arg, None)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("a, b ,c", ["a", "b", "c"]),
        ("a,,b,", ["a", "b"]),  # empty fields are dropped
        ('"x, y", z', ["x, y", "z"]),  # a quoted comma stays
        ('"say ""hi""", \\"', ['say "hi"', '\\"']),  # doubled quotes; a bare backslash is text
        ('"a\\"b"', ['a"b']),
        ("  ", []),
    ],
)
def test_comma_separated_values_split_as_promptfoo_splits_them(
    text: str, fields: list[str]
) -> None:
    assert parse_comma_separated(text) == fields


def test_a_broken_quoted_value_is_an_error() -> None:
    with pytest.raises(CheckError):
        parse_comma_separated('"open')
    with pytest.raises(CheckError):
        parse_comma_separated('"a" b')


@pytest.mark.parametrize(
    ("name", "output", "arg", "passed"),
    [
        ("contains_any", "Bonjour", ["bonjour", "salut"], False),  # case matters
        ("icontains_any", "Bonjour", ["bonjour", "salut"], True),
        ("contains_any", "a cat", "dog, cat", True),  # a string is split at commas
        ("contains_any", "anything", [], False),  # nothing to find
        ("contains_all", "anything", [], True),  # nothing missing
        ("contains_all", "red green", ["red", "blue"], False),
        ("icontains_all", "RED Green", "red, green", True),
        ("contains_all", "12 apples", [12, "apples"], True),  # numbers compare as text
        ("contains_any", "x, y", '"x, y"', True),
    ],
)
def test_contains_any_and_all(name: str, output: str, arg: Any, passed: bool) -> None:
    assert _check(name, output, arg) is passed


def test_an_empty_value_is_an_error_not_a_verdict() -> None:
    with pytest.raises(CheckError):
        _check("contains_any", "x", "")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('Here: {"a": 1} and {"b": [2]}', [{"a": 1}, {"b": [2]}]),
        ("[1, 2]", []),  # arrays are not looked for
        ('{"a": "}"} tail', [{"a": "}"}]),  # a brace inside a string: shortest valid slice
        ("{not json} {}", [{}]),
        ('{"a": {"b": 1}}', [{"a": {"b": 1}}]),  # the outer object, then past it
        ('{"x": NaN}', []),  # JavaScript's JSON.parse rejects NaN
        ("{{}", [{}]),  # the first { never closes; the second does
    ],
)
def test_json_objects_are_extracted_as_promptfoo_extracts_them(text: str, found: Any) -> None:
    assert extract_json_objects(text) == found


def test_contains_json_with_and_without_a_schema() -> None:
    schema = {"type": "object", "required": ["name"]}
    assert _check("contains_json", 'Sure! ```{"name": "x"}```', None)
    assert not _check("contains_json", "[1, 2, 3]", None)  # is_json would pass this
    assert _check("contains_json", '{"id": 1} then {"name": "n"}', schema)  # any object
    assert not _check("contains_json", '{"id": 1}', schema)


@pytest.mark.parametrize(
    ("output", "value", "threshold", "passed"),
    [
        ("kitten", "sitting", 3, True),
        ("kitten", "sitting", 2, False),
        ("abc", "abc", 0, True),
        ("hello world", "hello", None, False),  # distance 6 > the default 5
        ("hello!", "hello", None, True),
        ("😀", "", 1, False),  # an emoji is two UTF-16 code units in JavaScript
        ("😀", "", 2, True),
    ],
)
def test_levenshtein_counts_edits_as_fastest_levenshtein_does(
    output: str, value: str, threshold: int | None, passed: bool
) -> None:
    arg: dict[str, Any] = {"value": value}
    if threshold is not None:
        arg["threshold"] = threshold
    assert _check("levenshtein", output, arg) is passed


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"contains_any": {"a": 1}}, "list of values"),
        ({"contains_all": [["x"]]}, "value 1 must be text"),
        ({"levenshtein": {"value": "x", "threshold": "far"}}, "must be a number"),
        ({"levenshtein": {"value": "x", "distance": 1}}, "unknown option"),
        ({"contains_json": "yes please"}, "JSON Schema"),
        ({"contains_json": {"type": "nonsense"}}, "not a valid JSON Schema"),
    ],
)
def test_broken_arguments_are_rejected_before_running(entry: dict[str, Any], problem: str) -> None:
    found = assert_problems(entry, lambda model: None)
    assert found and problem in found[0]


def test_valid_arguments_pass_validation() -> None:
    for entry in (
        {"contains_any": ["a", 1]},
        {"not_icontains_all": "a, b"},
        {"contains_json": None},
        {"contains_json": {"type": "object"}},
        {"levenshtein": {"value": "abc", "threshold": 2}},
        {"levenshtein": "abc"},
    ):
        assert assert_problems(entry, lambda model: None) == []
