"""``harness import openai-evals`` on real published evals (tests/importers/fixtures/openai_evals,
MIT, from openai/evals; see the README there): the import validates, asks what the original
asked, and passes or fails every case exactly as the original grader decides (the Evals
functions themselves, copied into tests/checks/test_evals_graders.py, are the oracle).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import harness
from harness.home import requests_path
from harness.importers import import_suite
from harness.run_requests import read_requests
from tests.checks.test_evals_graders import evals_fuzzy, evals_includes, evals_match
from tests.conftest import run_cli
from tests.importers._server import use_server
from tests.openai_server import FakeOpenAIServer
from tests.openai_server.chat import last_user_text

REGISTRY = Path(__file__).parent / "fixtures" / "openai_evals" / "evals" / "registry"
EVALS = REGISTRY / "evals"

# (registry file, --eval, the grader's rule, cases, examples)
SUITES: list[tuple[str, str | None, Callable[[str, Any], bool], int, int]] = [
    ("anagrams.yaml", None, evals_match, 40, 5),
    ("mendelian_inheritance.yaml", None, evals_match, 16, 0),
    ("hebrew-rhyme.yaml", None, evals_fuzzy, 40, 0),
    (
        "test-basic.yaml",
        "test-includes-ignore-case",
        lambda out, ideal: evals_includes(out, ideal, ignore_case=True),
        3,
        0,
    ),
]


def _answers(ideal: str | list[str], n: int) -> str:
    """An answer that probes where the graders differ from naive matching."""
    first = ideal if isinstance(ideal, str) else ideal[n % len(ideal)]
    forms = [
        first,
        " " + first,  # leading space: Match fails, Includes and FuzzyMatch pass
        first.upper(),  # case
        f"The {first}!",  # article and punctuation: FuzzyMatch passes
        first + " because of reasons",  # a prefix: Match passes
        first[: max(1, len(first) // 2)],  # half of it: FuzzyMatch passes (contained)
        "I don't know",
    ]
    return forms[n % len(forms)]


@pytest.mark.parametrize(("file", "eval_id", "grader", "cases", "examples"), SUITES)
def test_an_imported_eval_decides_every_case_as_the_original(
    tmp_path: Path,
    file: str,
    eval_id: str | None,
    grader: Callable[[str, Any], bool],
    cases: int,
    examples: int,
) -> None:
    suite, path = import_suite("openai-evals", EVALS / file, tmp_path / "out", eval_id=eval_id)
    assert (suite.imported["cases"], suite.imported["examples"]) == (cases, examples)
    assert not suite.problems
    samples = _jsonl(tmp_path / "out" / suite.spec["tests"]["file"])
    said = {s["question"]: _answers(s["ideal"], n) for n, s in enumerate(samples)}

    def responder(request: dict[str, Any]) -> str:
        return said[last_user_text(request["messages"])]

    with FakeOpenAIServer(api_key="sk-test", responder=responder) as server:
        use_server(path, server)
        result = harness.run(path, home=tmp_path / "home", progress=False)
    verdicts = {r.case: r.passed for r in result.results}
    expected = {f"s{n}": grader(said[s["question"]], s["ideal"]) for n, s in _numbered(samples)}
    assert verdicts == expected
    if cases > 7:  # the probe answers both ways
        assert 0 < sum(expected.values()) < len(expected)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _numbered(samples: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return [(int(s["id"][1:]), s) for s in samples]


def test_few_shot_examples_are_the_first_n_before_the_last_message(tmp_path: Path) -> None:
    suite, path = import_suite("openai-evals", EVALS / "anagrams.yaml", tmp_path / "out")
    assert suite.spec["shots"] == [5] and suite.spec["selectors"] == ["first"]
    assert "# - similar" in path.read_text("utf-8")
    fewshot = _jsonl(REGISTRY / "data/anagrams/fewshot.jsonl")
    sample = _jsonl(REGISTRY / "data/anagrams/samples.jsonl")[0]
    with FakeOpenAIServer(api_key="sk-test") as server:
        use_server(path, server)
        result = harness.run(path, home=tmp_path / "home", progress=False)
    log = read_requests(requests_path(result.run_dir))
    first = next(r for r in result.results if r.case == "s1")
    sent = [(role, content) for role, content, _ in log.messages(first.key)]
    shots = [
        (role, turn["content"])
        for line in fewshot[:5]
        for role, turn in zip(("user", "assistant"), line["sample"], strict=True)
    ]
    original = [(m["role"], m["content"]) for m in sample["input"]]
    assert sent == original[:-1] + shots + original[-1:]


def test_problems_are_located_and_nothing_is_written_for_an_invalid_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli(
        ["import", "openai-evals", str(EVALS / "test-basic.yaml"), "-o", str(out)], capsys
    )
    assert code == 2 and "defines 4 evals" in err and "--eval ID" in err
    assert not out.exists()
    registry = tmp_path / "evals" / "registry"
    (registry / "evals").mkdir(parents=True)
    (registry / "data" / "x").mkdir(parents=True)
    lines = ['{"input": "2+2?", "ideal": "4"}', "not json", '{"input": 3, "ideal": "x"}']
    (registry / "data" / "x" / "samples.jsonl").write_text("\n".join(lines) + "\n")
    definition = registry / "evals" / "x.yaml"
    definition.write_text(
        "x:\n  id: x.v0\nx.v0:\n  class: evals.elsuite.basic.match:Match\n"
        "  args:\n    samples_jsonl: x/samples.jsonl\n"
    )
    code, out_text, err = run_cli(
        ["import", "openai-evals", str(definition), "-o", str(out)], capsys
    )
    samples = registry / "data" / "x" / "samples.jsonl"
    assert code == 0, err
    assert f"{samples}:2:1: warning: not JSON" in err
    assert f"{samples}:3:1: warning: `input` is neither text" in err
    assert "1 cases (2 not imported)" in err
    written = Path(out_text.strip())
    assert "# Not imported (2):" in written.read_text("utf-8")
    code, _, _ = run_cli(["validate", str(written)], capsys)
    assert code == 0
    definition.write_text(
        definition.read_text().replace("x/samples.jsonl", "../../../secret.jsonl")
    )
    (tmp_path / "secret.jsonl").write_text('{"input": "k", "ideal": "v"}\n')
    code, _, err = run_cli(
        ["import", "openai-evals", str(definition), "-o", str(tmp_path / "o2")], capsys
    )
    assert code == 2 and "outside" in err and "Traceback" not in err
    definition.write_text(
        definition.read_text().replace("evals.elsuite.basic.match:Match", "evals.elsuite.x:Mystery")
    )
    code, _, err = run_cli(
        ["import", "openai-evals", str(definition), "-o", str(tmp_path / "o3")], capsys
    )
    assert code == 2 and "eval class 'evals.elsuite.x:Mystery' cannot be imported" in err


def test_message_names_are_sent_and_recorded(tmp_path: Path) -> None:
    suite, path = import_suite(
        "openai-evals", EVALS / "test-basic.yaml", tmp_path / "out", eval_id="test-includes"
    )
    seen: list[list[dict[str, Any]]] = []

    def responder(request: dict[str, Any]) -> str:
        seen.append(request["messages"])
        return "Paris"

    with FakeOpenAIServer(api_key="sk-test", responder=responder) as server:
        use_server(path, server)
        result = harness.run(path, home=tmp_path / "home", progress=False)
    assert {"role": "system", "content": "Paris", "name": "example_assistant"} in seen[0]
    log = read_requests(requests_path(result.run_dir))
    refs = log.requests[result.results[0].key]["m"]
    assert [r[3] for r in refs if len(r) == 4][:2] == ["example_user", "example_assistant"]
