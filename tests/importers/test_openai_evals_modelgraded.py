"""``harness import openai-evals`` on a model-graded eval: ``coqa-closedqa-correct`` (the
``closedqa`` spec, MIT, from openai/evals; see tests/importers/fixtures/openai_evals/README.md)
becomes a ``judge`` check whose rubric is the spec's prompt, and each case's verdict is the
judge's answer; what cannot be said as PASS/FAIL is a located error.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import harness
from harness.checks.judge import JUDGE_SYSTEM
from harness.importers import import_suite
from harness.importers._evals_modelgraded import conversation_text
from tests.conftest import run_cli
from tests.openai_server import FakeOpenAIServer
from tests.openai_server.chat import last_user_text

REGISTRY = Path(__file__).parent / "fixtures" / "openai_evals" / "evals" / "registry"
COQA = REGISTRY / "evals" / "coqa-ex.yaml"
CRITERION = "correctness: Is the answer correct?"


def _line_col(path: Path, needle: str, after: str = "") -> str:
    """``LINE:COL`` of the first ``needle`` after the line holding ``after``."""
    lines = path.read_text("utf-8").splitlines()
    start = next(i for i, ln in enumerate(lines) if after in ln)
    n = next(i for i in range(start, len(lines)) if needle in lines[i])
    return f"{n + 1}:{lines[n].index(needle) + 1}"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _copy_registry(tmp_path: Path) -> Path:
    registry = tmp_path / "evals" / "registry"
    shutil.copytree(REGISTRY, registry)
    return registry


def test_the_spec_prompt_becomes_the_judge_rubric(tmp_path: Path) -> None:
    suite, path = import_suite(
        "openai-evals", COQA, tmp_path / "out", eval_id="coqa-closedqa-correct"
    )
    assert (suite.imported["cases"], suite.imported["checks"]) == (9, 1)
    [warning] = suite.problems
    assert warning.severity == "warning"
    assert (
        str(warning.location) == f"{COQA}:{_line_col(COQA, 'evals.', 'coqa-closedqa-correct.dev')}"
    )
    assert "'closedqa'" in warning.message and "verdict format" in warning.message
    assert "scores may differ" in warning.message
    [check] = suite.spec["tests"]["assert"]
    rubric = check["judge"]["rubric"]
    assert set(check["judge"]) == {"rubric"}  # the experiment's judge model
    assert f"[Criterion]: {CRITERION}" in rubric
    assert "[Task]: {{ input_text }}" in rubric
    assert "[Submission]: (the response given between the <response> tags below)" in rubric
    assert rubric.endswith(
        'where your answer above would be "Y", the verdict is PASS; where it would be "N", '
        "FAIL. Give the verdict (PASS or FAIL), not the answer."
    )
    assert suite.spec["params"] == {"temperature": 0, "max_tokens": 1024}
    text = path.read_text("utf-8")
    assert "-> `judge`" in text and "# Not imported (1):" in text
    samples = _jsonl(REGISTRY / "data/coqa/samples.jsonl")
    cases = _jsonl(tmp_path / "out" / suite.spec["tests"]["file"])
    assert [c["input"] for c in cases] == [s["input"] for s in samples]
    assert [c["ideal"] for c in cases] == [s["ideal"] for s in samples]
    # {input} as Evals writes a conversation into its grader prompt: system turns bare,
    # example_user/example_assistant turns and the last user turn prefixed.
    prefix = {"example_user": "User: ", "example_assistant": "Assistant: ", "user": "User: "}
    first = samples[0]["input"]
    assert {m.get("name", m["role"]) for m in first} == {"system", *prefix}
    assert cases[0]["input_text"] == "".join(
        prefix.get(m.get("name", m["role"]), "") + m["content"] + "\n" for m in first
    )


def test_ideal_and_braces_and_a_chat_prompt(tmp_path: Path) -> None:
    registry = _copy_registry(tmp_path)
    # Evals finds a spec by its key in any file of modelgraded/, not by the file name.
    (registry / "modelgraded" / "more.yaml").write_text(
        "graded:\n"
        "  prompt:\n"
        "  - role: system\n"
        "    content: 'Grade {{{{ this }}}} {{%'\n"
        "  - role: user\n"
        "    content: 'Q: {input} Expert: {ideal} Got: {completion} ({criteria})'\n"
        "  choice_strings: [Good, Fine, Bad]\n"
        "  choice_scores: {Good: 1, Fine: 1, Bad: 0}\n"
        "  input_outputs: {input: completion}\n"
    )
    definition = registry / "evals" / "coqa-ex.yaml"
    definition.write_text(
        definition.read_text("utf-8").replace(
            "modelgraded_spec: closedqa", "modelgraded_spec: graded"
        )
    )
    suite, _ = import_suite(
        "openai-evals", definition, tmp_path / "out", eval_id="coqa-closedqa-relevance"
    )
    rubric = suite.spec["tests"]["assert"][0]["judge"]["rubric"]
    assert rubric.startswith("Grade {{ '{' }}{{ '{' }} this }} {{ '{' }}%\n\nQ: {{ input_text }}")
    assert "Expert: {{ ideal }} Got: (the response" in rubric
    assert "(relevance: Is the submission referring to a real quote from the text?)" in rubric
    assert 'would be "Good" or "Fine", the verdict is PASS; where it would be "Bad", FAIL' in rubric


def _respond(request: dict[str, Any], asked: list[str]) -> str:
    messages = request["messages"]
    if messages[0]["content"] != JUDGE_SYSTEM:  # the task: right answers to every other case
        question = last_user_text(messages)
        return "right || quote" if len(question) % 2 else "wrong || quote"
    user = messages[1]["content"]
    asked.append(user)
    response = re.search(r"<response>\n(.*)\n</response>", user, re.DOTALL)
    assert response is not None
    passed = response.group(1).startswith("right")
    if "Who stomps?" in user:  # the other verdict format the judge check reads
        return "It is wrong.\nVERDICT: FAIL" if not passed else "It is right.\nVERDICT: PASS"
    return json.dumps({"reasoning": "checked", "verdict": "PASS" if passed else "FAIL"})


def test_each_verdict_is_the_judges(tmp_path: Path) -> None:
    suite, path = import_suite(
        "openai-evals", COQA, tmp_path / "out", eval_id="coqa-closedqa-correct"
    )
    spec = yaml.safe_load(path.read_text("utf-8"))
    asked: list[str] = []
    with FakeOpenAIServer(api_key="sk-test", responder=lambda r: _respond(r, asked)) as server:
        spec["models"] = [
            {"id": "openai:gpt-4o-mini", "base_url": server.base_url, "api_key": "sk-test"}
        ]
        spec["tests"]["assert"][0]["judge"]["model"] = "openai:gpt-4o-mini"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
        result = harness.run(path, home=tmp_path / "home", progress=False)
    cases = {c["id"]: c for c in _jsonl(path.parent / spec["tests"]["file"])}
    expected = {cid: len(c["question"]) % 2 == 1 for cid, c in cases.items()}
    assert {r.case: r.passed for r in result.results} == expected
    assert 0 < sum(expected.values()) < len(expected)
    assert all(r.error is None for r in result.results)
    assert len(asked) == len(cases)
    for case in cases.values():  # the rubric was filled with this case's fields
        [user] = [u for u in asked if conversation_text(case["input"]) in u]
        assert f"[Criterion]: {CRITERION}" in user
        assert case["ideal"] not in user  # closedqa does not show the expert answer
        assert "{{" not in user.split("<input>")[0]


def test_an_unknown_spec_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = _copy_registry(tmp_path)
    definition = registry / "evals" / "coqa-ex.yaml"
    text = definition.read_text("utf-8")
    definition.write_text(text.replace("modelgraded_spec: closedqa", "modelgraded_spec: nosuch"))
    out = tmp_path / "out"
    argv = ["import", "openai-evals", str(definition), "--eval", "coqa-closedqa-correct"]
    code, _, err = run_cli([*argv, "-o", str(out)], capsys)
    where = _line_col(definition, "nosuch", "coqa-closedqa-correct.dev")
    assert code == 2, err
    assert f"{definition}:{where}: error: no model-graded spec 'nosuch'" in err
    assert "Traceback" not in err and not out.exists()


def test_what_is_not_a_pass_fail_split_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fact: five choices and no choice_scores; Evals only counts them.
    out = tmp_path / "out"
    argv = ["import", "openai-evals", str(COQA), "--eval", "coqa-fact", "-o", str(out)]
    code, _, err = run_cli(argv, capsys)
    fact = REGISTRY / "modelgraded" / "fact.yaml"
    assert code == 2 and f"{fact}:2:3: error: model-graded spec 'fact': the spec has no" in err
    assert not out.exists()
    registry = _copy_registry(tmp_path)
    definition = registry / "evals" / "coqa-ex.yaml"
    text = definition.read_text("utf-8").replace(
        '      criteria: "correctness: Is the answer correct?"',
        "      criteria: {a: one, b: two}\n    eval_type: cot_classify_jp\n    multicomp_n: 2",
    )
    definition.write_text(text)
    argv = ["import", "openai-evals", str(definition), "--eval", "coqa-closedqa-correct"]
    code, _, err = run_cli([*argv, "-o", str(out)], capsys)
    after = "coqa-closedqa-correct.dev"
    assert code == 2
    assert f"{definition}:{_line_col(definition, '{a: one', after)}: error: " in err
    assert "`criteria` has 2 entries (a, b): import one at a time" in err
    assert f"{definition}:{_line_col(definition, '2', 'multicomp_n')}: error: " in err
    definition.write_text(
        text.replace("{a: one, b: two}", "{a: one}").replace("multicomp_n: 2", "")
    )
    suite, _ = import_suite(
        "openai-evals", definition, tmp_path / "o2", eval_id="coqa-closedqa-correct"
    )
    messages = {str(p.location): p.message for p in suite.problems}
    eval_type = f"{definition}:{_line_col(definition, 'cot_classify_jp', after)}"
    assert "eval_type 'cot_classify_jp'" in messages[eval_type]
    assert "[Criterion]: one" in suite.spec["tests"]["assert"][0]["judge"]["rubric"]
