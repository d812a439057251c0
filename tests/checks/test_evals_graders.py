"""The OpenAI Evals graders: ``starts_with_any`` (Match), ``includes``, ``fuzzy_match``.

Each is checked on a table of the cases where Evals differs from naive matching, and
against the Evals code itself on generated strings. The reference functions below
(``get_answer``, ``normalize``, ``fuzzy_match`` from ``evals/elsuite/utils.py`` and the
matching loop of ``record_and_check_match`` from ``evals/api.py``) are copied from
openai/evals at commit 4bfc1f58a821685acb40bb28ba54131740535046, unchanged except that
``record_and_check_match`` leaves out the recording of events and returns ``match`` (the
verdict it records) rather than ``picked``. Their licence:

    MIT License. Copyright (c) 2023 OpenAI. Permission is hereby granted, free of charge,
    to any person obtaining a copy of this software and associated documentation files
    (the "Software"), to deal in the Software without restriction, including without
    limitation the rights to use, copy, modify, merge, publish, distribute, sublicense,
    and/or sell copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions: The above copyright notice
    and this permission notice shall be included in all copies or substantial portions of
    the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
    OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR
    A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
    HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
    CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR
    THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path
from typing import Any

import pytest

from harness.checks.evaluate import ArgRenderer, check_result
from harness.experiment import validate_experiment
from harness.results import Result
from tests.conftest import WriteFiles

# --- Reference: openai/evals@4bfc1f58, evals/elsuite/utils.py lines 17-25 and 36-53 -----


def get_answer(text, answer_prompt, ignore_case=False):  # type: ignore[no-untyped-def]
    if ignore_case:
        idx = text.lower().rfind(answer_prompt.lower())
    else:
        idx = text.rfind(answer_prompt)

    if idx == -1:
        return None
    return text[idx : idx + len(answer_prompt)]


def normalize(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace."""
    s = s.lower()
    exclude = set(string.punctuation)
    s = "".join(char for char in s if char not in exclude)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    s = " ".join(s.split())
    return s


def fuzzy_match(s1: str, s2: str) -> bool:
    s1 = normalize(s1)
    s2 = normalize(s2)

    if s1 == "" or s2 == "":
        return s1 == s2

    return s1 in s2 or s2 in s1


# --- Reference: evals/api.py lines 55-105, record_and_check_match, returning `match` ----


def record_and_check_match(prompt, sampled, expected, separator=None, options=None):  # type: ignore[no-untyped-def]
    if isinstance(expected, tuple):
        expected = list(expected)
    elif not isinstance(expected, list):
        expected = [expected]
    if options is None:
        options = expected

    picked = None
    for option in options:
        if not sampled.startswith(option):
            continue
        if (
            separator is not None
            and len(sampled) > len(option)
            and not separator(sampled[len(option)])
        ):
            continue
        picked = option
        break

    match = picked in expected
    return match


# --- How each Evals class turns a sample into a verdict ---------------------------------


def evals_match(sampled: str, ideal: Any) -> bool:  # match.py:52-56
    match = record_and_check_match(prompt=None, sampled=sampled, expected=ideal)  # type: ignore[no-untyped-call]
    return bool(match)


def evals_includes(sampled: str, ideal: Any, ignore_case: bool = False) -> bool:
    ideal = ideal if isinstance(ideal, list) else [ideal]  # includes.py:34-44
    return any([get_answer(sampled, ref, ignore_case) is not None for ref in ideal])  # type: ignore[no-untyped-call]


def evals_fuzzy(sampled: str, ideal: Any) -> bool:  # fuzzy_match.py:30-43
    ideal = ideal if isinstance(ideal, list) else [ideal]
    return True in [fuzzy_match(sampled, answer) for answer in ideal]


# --- The harness's checks ----------------------------------------------------------------

ARGS = ArgRenderer("t.yaml")


def check(output: str, entry: dict[str, Any], case: dict[str, Any]) -> tuple[bool | None, str]:
    result = Result(variant="v", case="c", repeat=0, key="k", output=output)
    checked = check_result(result, case, [entry], args=ARGS)
    assert checked.error is None, checked.error
    return checked.passed, checked.checks[0].reason


def templated(name: str, output: str, ideal: Any, **options: Any) -> bool | None:
    """The check as an importer writes it: the ideal comes from the case's ``ideal`` field."""
    arg: Any = {"value": "{{ ideal }}", **options} if options else "{{ ideal }}"
    passed, reason = check(output, {name: arg}, {"input": "q", "ideal": ideal})
    assert bool(reason) is not passed  # a failure always says why
    return passed


MATCH_TABLE = [
    # (output, ideal, Evals' verdict): the output is used exactly as sampled
    ("Paris", "Paris", True),
    ("Paris, France", "Paris", True),  # a prefix is enough
    (" Paris", "Paris", False),  # no strip of the sample
    ("Paris", " Paris", False),  # nor of the ideal
    (" Paris", " Paris", True),
    ("\nParis", "Paris", False),
    ("paris", "Paris", False),  # case matters
    ("The answer is Paris", "Paris", False),  # anywhere but the start does not count
    ("Paris", "Paris.", False),  # the ideal must be whole
    ("B) 42", ["A", "B"], True),  # any ideal of a list
    ("C", ["A", "B"], False),
    ("", "Paris", False),  # an empty output starts with no ideal
    ("anything", "", True),  # an empty ideal is a prefix of everything
    ("Yes", [], False),  # no ideals: nothing is picked
]

INCLUDES_TABLE = [
    # (output, ideal, ignore_case, Evals' verdict)
    ("I think it is Paris.", "Paris", False, True),  # anywhere in the output
    ("I think it is PARIS.", "Paris", False, False),  # case matters by default
    ("I think it is PARIS.", "Paris", True, True),
    ("STRASSE", "straße", True, False),  # str.lower, not casefold
    ("Straße", "STRASSE", True, False),
    ("  Paris  ", " Paris ", False, True),  # whitespace is part of the ideal
    ("Paris", " Paris", False, False),
    ("Parisian", "Paris", False, True),  # no word boundaries
    ("Rome", ["London", "Rome"], False, True),
    ("Oslo", ["London", "Rome"], False, False),
    ("", "Paris", False, False),
    ("anything", "", False, True),  # rfind("") is never -1
    ("Yes", [], False, False),
]

FUZZY_TABLE = [
    # (output, ideal, Evals' verdict): normalised, then either contains the other
    ("The Eiffel Tower.", "eiffel tower", True),  # case, punctuation, articles
    ("eiffel tower", "The Eiffel Tower!", True),  # either direction
    ("It is in Paris, France", "paris", True),  # the ideal inside the output
    ("Paris", "Paris, France", True),  # the output inside the ideal
    ("Millie Bobby Brown", "Millie  Bobby\nBrown", True),  # whitespace collapsed
    ("the cat", "a cat", True),  # both 'cat' once the articles go
    ("there", "here", True),  # plain substrings: 'here' is in 'there'
    ("theatre", "atre", True),  # 'the' inside a word stays
    ("U.S.A.", "USA", True),
    ("don't", "dont", True),
    ("Paris—France", "Paris France", False),  # only ASCII punctuation is removed
    ("café", "cafe", False),  # accents stay
    ("11", ["Season 11", "11"], True),  # any ideal of a list
    ("Season 12", ["Season 11", "11"], False),
    ("", "Paris", False),  # an empty answer matches only an ideal that is empty too
    ("The...", "a", True),  # both normalise to ''
    ("", "", True),
    ("Paris", "the", False),  # the ideal normalises to '', the answer does not
    ("Yes", [], False),
]


@pytest.mark.parametrize(("output", "ideal", "expected"), MATCH_TABLE)
def test_starts_with_any_is_evals_match(output: str, ideal: Any, expected: bool) -> None:
    assert evals_match(output, ideal) is expected  # the table is right about Evals
    assert templated("starts_with_any", output, ideal) is expected


@pytest.mark.parametrize(("output", "ideal", "ignore_case", "expected"), INCLUDES_TABLE)
def test_includes_is_evals_includes(
    output: str, ideal: Any, ignore_case: bool, expected: bool
) -> None:
    assert evals_includes(output, ideal, ignore_case) is expected
    options = {"ignore_case": "true"} if ignore_case else {}
    assert templated("includes", output, ideal, **options) is expected


@pytest.mark.parametrize(("output", "ideal", "expected"), FUZZY_TABLE)
def test_fuzzy_match_is_evals_fuzzy_match(output: str, ideal: Any, expected: bool) -> None:
    assert evals_fuzzy(output, ideal) is expected
    assert templated("fuzzy_match", output, ideal) is expected


def test_argument_forms() -> None:
    case = {"ideal": ["B", "C"], "other": "B"}
    assert check("B!", {"starts_with_any": "B"}, case)[0] is True  # one literal ideal
    assert check("C!", {"starts_with_any": ["A", "C"]}, case)[0] is True  # a literal list
    assert check("C!", {"starts_with_any": ["A", "{{ ideal[1] }}"]}, case)[0] is True
    assert check("c!", {"includes": {"value": "{{ ideal }}", "ignore_case": "True"}}, case)[0]
    assert check("c!", {"includes": {"value": ["c"], "ignore_case": False}}, case)[0]
    assert check("c!", {"includes": {"value": "C", "ignore_case": "false"}}, case)[0] is False
    assert check("B", {"not_fuzzy_match": "{{ ideal }}"}, case)[0] is False  # negated


def test_failure_reasons_name_the_ideals() -> None:
    case = {"ideal": ["A", "B", "C", "D"]}
    _, reason = check("E", {"starts_with_any": "{{ ideal }}"}, case)
    assert reason == "'E' does not start with any of 4 ideals: 'A', 'B', 'C', … (1 more)"
    _, reason = check(" a", {"starts_with_any": "a"}, case)
    assert reason == "' a' does not start with 'a'"
    _, reason = check("x", {"includes": {"value": "Y", "ignore_case": "true"}}, case)
    assert reason == "'x' does not include 'Y' (ignoring case)"
    _, reason = check("The Cat!", {"fuzzy_match": ["a dog", "Mouse"]}, case)
    assert reason == (
        "'The Cat!', normalised to 'cat', neither contains nor is contained in any of 2 "
        "ideals: 'a dog' → 'dog', 'Mouse' → 'mouse'"
    )
    _, reason = check("x", {"fuzzy_match": "{{ ideal }}"}, {"ideal": []})
    assert reason == "no ideals to compare with (an empty list never matches)"


def test_a_field_is_used_as_it_is_not_as_its_text() -> None:
    # "{{ ideal }}" renders a list as "['A', 'B']" and strips a string; the field's own
    # value is what Evals compares with.
    assert (
        check("['A', 'B']", {"starts_with_any": "{{ ideal }}"}, {"ideal": ["A", "B"]})[0] is False
    )
    assert check(" Yes", {"starts_with_any": "{{ ideal }}"}, {"ideal": " Yes"})[0] is True
    assert check("Yes", {"starts_with_any": "{{ ideal }}"}, {"ideal": " Yes"})[0] is False
    # Two fields that both render to the text: the text itself is used.
    ambiguous = {"ideal": " Yes", "echo": "Yes "}
    assert check("Yes", {"starts_with_any": "{{ ideal }}"}, ambiguous)[0] is True


def test_ideals_that_are_not_text_are_check_errors() -> None:
    result = Result(variant="v", case="c", repeat=0, key="k", output="1")
    for entry in ({"starts_with_any": "{{ ideal }}"}, {"not_fuzzy_match": ["{{ ideal }}"]}):
        checked = check_result(result, {"ideal": [1, 2]}, [entry], args=ARGS)
        assert checked.passed is None  # an error, never a pass, negated or not
        assert "must be a string" in (checked.error or "")
    checked = check_result(
        result, {}, [{"includes": {"value": "1", "ignore_case": "{{ 'maybe' }}"}}], args=ARGS
    )
    assert "ignore_case must be true or false" in (checked.error or "")


# --- Agreement with the Evals code on generated strings ---------------------------------

PIECES = [
    "the", "The", "THE", "a", "A", "an", "An", "paris", "Paris", "PARIS", "cat", "theatre",
    " ", "  ", "\t", "\n", ".", ",", "!", "'", "-", "(", ")", "?", "...", "ß", "SS", "İ",
    "i", "é", "Σ", "ς", "—", "…", "\u00a0", "42", "4", "x", "the.", "a-b", "It's",
]  # fmt: skip


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))


def _ideal_for(rng: random.Random, output: str) -> str:
    """Often a piece of the output (so that both verdicts occur), sometimes anything."""
    kind = rng.randrange(4)
    if kind == 0 or not output:
        return _text(rng)
    start = rng.randrange(len(output)) if kind == 2 else 0
    piece = output[start : start + rng.randint(1, len(output))]
    return piece.upper() if kind == 3 else piece


def _samples(seed: int, count: int = 300) -> list[tuple[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        output = _text(rng)
        ideals = [_ideal_for(rng, output) for _ in range(rng.randint(1, 3))]
        out.append((output, ideals if rng.random() < 0.6 else ideals[0]))
    return out


@pytest.mark.parametrize(
    ("name", "reference", "options"),
    [
        ("starts_with_any", evals_match, {}),
        ("includes", evals_includes, {}),
        ("includes", lambda s, i: evals_includes(s, i, True), {"ignore_case": "true"}),
        ("fuzzy_match", evals_fuzzy, {}),
    ],
)
def test_agrees_with_the_evals_code(name: str, reference: Any, options: dict[str, str]) -> None:
    verdicts: list[bool] = []
    for output, ideal in _samples(seed=20240611):
        want = reference(output, ideal)
        assert templated(name, output, ideal, **options) is want, (output, ideal)
        if not options:  # the literal form, as a case's own assertion would carry it
            literal = ideal if isinstance(ideal, list) else [ideal]
            assert check(output, {name: literal}, {})[0] is want, (output, ideal)
        verdicts.append(bool(want))
    assert 30 < sum(verdicts) < len(verdicts) - 30  # both verdicts are well represented


FIXTURES = Path(__file__).parent.parent / "importers" / "fixtures" / "openai_evals"
DATA = FIXTURES / "evals" / "registry" / "data"


@pytest.mark.parametrize(
    ("data", "name", "reference", "options"),
    [
        ("mendelian_inheritance/samples.jsonl", "starts_with_any", evals_match, {}),
        ("anagrams/samples.jsonl", "starts_with_any", evals_match, {}),
        (
            "test_fuzzy_match/samples.jsonl",
            "includes",
            lambda s, i: evals_includes(s, i, True),
            {"ignore_case": "true"},
        ),
        ("hebrew_rhyme/samples.jsonl", "fuzzy_match", evals_fuzzy, {}),
    ],
)
def test_agrees_with_the_evals_code_on_the_fixture_suites(
    data: str, name: str, reference: Any, options: dict[str, str]
) -> None:
    """Answers near each published ideal: right, re-cased, padded, punctuated, wrong."""
    samples = [json.loads(line) for line in (DATA / data).read_text("utf-8").splitlines()]
    verdicts: list[bool] = []
    for sample in samples:
        ideal = sample["ideal"]
        first = ideal[0] if isinstance(ideal, list) else ideal
        for output in (first, first.upper(), f" {first}", f"The {first}.", first[1:], "NONE"):
            want = reference(output, ideal)
            assert templated(name, output, ideal, **options) is want, (output, ideal)
            verdicts.append(bool(want))
    assert any(verdicts) and not all(verdicts)


# --- Validation: a wrong argument is a located error before anything is sent ------------

EXP = """\
name: e
models: [{id: "openai:m", base_url: "http://127.0.0.1:9/v1"}]
prompts: [{id: p, user: "{{ input }}"}]
tests:
  items: [{id: a, input: x, ideal: [y, z]}]
  assert:
    - ASSERT
"""


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("starts_with_any: {value: x}", "starts_with_any takes an ideal or a list of ideals"),
        ("not_fuzzy_match: []", "fuzzy_match needs at least one ideal"),
        ("fuzzy_match: [a, null]", "fuzzy_match: ideal 2 must be a string, not None"),
        ("includes: {values: [a]}", "includes: unknown option(s) values"),
        ("includes: {ignore_case: true}", "includes: missing value"),
        ("includes: {value: a, ignore_case: yes}", "ignore_case must be true or false"),
        ("includes: {value: {a: b}}", "includes: value takes an ideal or a list of ideals"),
    ],
)
def test_wrong_arguments_are_located(write: WriteFiles, entry: str, needle: str) -> None:
    found = validate_experiment(write({"exp.yaml": EXP.replace("ASSERT", entry)})).errors
    assert any(p.location.line == 7 and needle in p.message for p in found), found


@pytest.mark.parametrize(
    "entry",
    [
        'starts_with_any: "{{ ideal }}"',
        "starts_with_any: [a, b]",
        'includes: {value: "{{ ideal }}", ignore_case: true}',
        'includes: "{{ ideal }}"',
        'fuzzy_match: "{{ ideal }}"',
        'fuzzy_match: ["{{ ideal[0] }}", x]',
    ],
)
def test_good_arguments_validate(write: WriteFiles, entry: str) -> None:
    assert validate_experiment(write({"exp.yaml": EXP.replace("ASSERT", entry)})).errors == []


def test_a_case_of_its_own_from_jsonl(write: WriteFiles, tmp_path: Path) -> None:
    text = EXP.replace("  items: [{id: a, input: x, ideal: [y, z]}]\n", "  file: t.jsonl\n")
    path = write(
        {
            "exp.yaml": text.replace("ASSERT", 'fuzzy_match: "{{ ideal }}"'),
            "t.jsonl": '{"id": "a", "input": "x", "ideal": ["y"], "assert": [{"includes": 3}]}\n',
        }
    )
    found = [p.message for p in validate_experiment(path).errors]
    assert any("includes takes an ideal or a list of ideals (strings), not 3" in m for m in found)
