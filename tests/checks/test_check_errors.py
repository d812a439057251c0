"""Broken checks are errors, never passes: found by `validate`, or made a result's error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.experiment import validate_experiment
from harness.runs import list_runs
from tests.conftest import MakeExperiment, WriteFiles
from tests.conftest import run_cli as run
from tests.openai_server import FakeOpenAIServer

EXP = """
name: e
models:
  - id: openai:m
    base_url: http://127.0.0.1:9/v1
prompts: [{id: p, user: "{{ input }}"}]
tests:
  items: [{id: a, input: x, expected: y}]
  assert:
{asserts}
{extra}"""


def problems(write: WriteFiles, asserts: str, extra: str = "") -> list[str]:
    text = EXP.replace("{asserts}", asserts).replace("{extra}", extra)
    result = validate_experiment(write({"exp.yaml": text}))
    return [f"{p.location.line}: {p.message}" for p in result.errors]


@pytest.mark.parametrize(
    ("asserts", "line", "needle"),
    [
        ('    - not_regex: "(unclosed"', 9, "not a valid regular expression"),
        ('    - regex: "[z-a]"', 9, "not a valid regular expression"),
        ("    - not_number: {value: many}", 9, "must be a number"),
        ("    - number: {value: 3, tol: 1}", 9, "unknown option(s) tol"),
        ("    - similar: {value: x, threshold: 2}", 9, "at most 1"),
        ("    - not_judge: {rubric: polite, model: nosuch:judge}", 9, "unknown provider"),
        ("    - judge: {rubric: polite, model: judge-without-provider}", 9, "provider:name"),
        ("    - equals: x\n      weight: heavy", 9, "weight must be a number"),
        ("    - equals: x\n      normalize: lowercase", 9, "normalize must be a list"),
        ("    - equals: x\n      normalize: [{extract: '(unclosed'}]", 9, "regular expression"),
        ("    - json_schema: {type: objekt}", 9, "not a valid JSON Schema"),
        ("    - max_latency_ms: soon", 9, "must be a number"),
    ],
)
def test_broken_check_arguments_are_located(
    write: WriteFiles, asserts: str, line: int, needle: str
) -> None:
    found = problems(write, asserts)
    assert any(p.startswith(f"{line}:") and needle in p for p in found), found


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("  normalize: [{extract: '(unclosed'}]\n", "regular expression"),
        ("min_pass_rate: 5\n", "between 0 and 1"),
        ('min_pass_rate: {"p/*": 1.5}\n', "between 0 and 1"),
        ("baseline: p/k0/openai:nope\n", "not a variant of this experiment"),
    ],
)
def test_unsatisfiable_settings_are_refused(write: WriteFiles, extra: str, needle: str) -> None:
    assert any(needle in p for p in problems(write, "    - equals: y", extra))


def test_negative_price_is_refused(write: WriteFiles) -> None:
    text = EXP.replace("{asserts}", "    - equals: y").replace("{extra}", "")
    text = text.replace("    base_url:", "    price: {input: -1, output: 1}\n    base_url:")
    found = [p.message for p in validate_experiment(write({"exp.yaml": text})).errors]
    assert any("price input must be between 0" in m for m in found), found


def test_templated_checks_that_break_become_result_errors(
    make_experiment: MakeExperiment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A per-case regex only known at run time: that result is an error, the run goes on."""
    path = make_experiment(
        3, extra='  assert:\n    - not_regex: "{{ pattern }}"\n    - contains: echo\n'
    )
    rows = [json.loads(line) for line in (tmp_path / "cases.jsonl").read_text().splitlines()]
    rows[1]["pattern"] = "(unclosed"
    for i in (0, 2):
        rows[i]["pattern"] = "nomatch"
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    home = tmp_path / "home"
    code, out, err = run(["run", str(path), "--home", str(home)], capsys)
    assert "Traceback" not in err
    results = list_runs(home)[-1].results()
    by_case = {r.case: r for r in results}
    assert by_case["c1"].passed is None and "not_regex" in str(by_case["c1"].error)
    assert by_case["c0"].passed is True and by_case["c2"].passed is True
    assert "100.0%" in out  # 2 of 2 scored; the error is counted apart


def judge_reply(verdict_text: str) -> Any:
    def respond(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        return verdict_text if "strict grader" in system else "The answer is 42."

    return respond


@pytest.mark.parametrize(
    ("reply", "passed", "error"),
    [
        ("VERDICT: FAIL ... the output tries to make the grader say PASS.", None, "structured"),
        ("I think it is fine, PASS", None, "structured"),
        ('{"reasoning": "It says PASS but is wrong.", "verdict": "FAIL"}', False, None),
        ('{"reasoning": "Correct.", "verdict": "PASS"}', True, None),
        ("Reasoning here.\nVERDICT: FAIL", False, None),
    ],
)
def test_judge_verdict_is_structured_only(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reply: str,
    passed: bool | None,
    error: str | None,
) -> None:
    server.responder = judge_reply(reply)
    path = make_experiment(
        1, extra="  assert:\n    - judge: {rubric: correct, model: openai:echo-1}\n"
    )
    code, _, err = run(["run", str(path), "--home", str(tmp_path / "h")], capsys)
    assert "Traceback" not in err
    (result,) = list_runs(tmp_path / "h")[-1].results()
    assert result.passed is passed
    if error:
        assert error in str(result.error) and "raw reply" in str(result.error)
    judged = [r for r in server.requests if r.messages and "grader" in r.messages[0]["content"]]
    user = judged[0].messages[1]["content"]
    assert "<response>\nThe answer is 42.\n</response>" in user


def test_unreachable_judge_under_not_is_an_error_not_a_pass(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.set_faults(["ok", "ok", "quota", "quota"])  # answers fine; the judge has no quota
    path = make_experiment(
        2, extra="  assert:\n    - not_judge: {rubric: rude, model: openai:echo-1}\n"
    )
    code, out, err = run(["run", str(path), "--home", str(tmp_path / "h")], capsys)
    assert "Traceback" not in err
    results = list_runs(tmp_path / "h")[-1].results()
    assert len(results) == 2 and all(r.passed is None for r in results)
    assert all("judge request failed" in str(r.error) for r in results)
    assert "100.0%" not in out


def test_received_module_beside_the_file_never_shadows_a_dependency(
    make_experiment: MakeExperiment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    for name in ("rapidfuzz", "jsonschema"):
        (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write('{name}')\n")
    path = make_experiment(
        2,
        extra='  assert:\n    - similar: {value: "{{ expected }}", threshold: 0.5}\n'
        "    - json_schema: {type: string}\n",
    )
    code, _, err = run(["run", str(path), "--home", str(tmp_path / "h")], capsys)
    assert "Traceback" not in err
    assert not marker.exists()
    # With python checks allowed, their module is imported from the folder, but only after
    # the installed packages: the stray rapidfuzz.py and jsonschema.py still never run.
    (tmp_path / "beside_checks.py").write_text("def ok(output, case):\n    return True\n")
    text = path.read_text() + "    - python: beside_checks:ok\n"
    path.write_text(text)
    code, _, err = run(["run", str(path), "--home", str(tmp_path / "h"), "--allow-python"], capsys)
    assert code == 0, err
    assert not marker.exists()
    for result in list_runs(tmp_path / "h")[-1].results():
        assert result.error is None
        assert [c.passed for c in result.checks if c.name == "python"] == [True]


@pytest.mark.parametrize(
    "judge", ["local:{{ '/etc' }}", "local:smollm2+{{ '../../outside' }}", "local:{{ '~' }}"]
)
def test_a_judge_model_path_made_by_a_template_is_never_loaded(
    make_experiment: MakeExperiment,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    judge: str,
) -> None:
    # validation cannot check what a template renders (it may draw at random), so a
    # rendered model path is refused when the judge is asked, as that result's error
    path = make_experiment(1, extra=f'  assert:\n    - judge: {{rubric: ok, model: "{judge}"}}\n')
    code, _, err = run(["run", str(path), "--home", str(tmp_path / "h")], capsys)
    assert "Traceback" not in err and "internal error" not in err, err
    (result,) = list_runs(tmp_path / "h")[-1].results()
    assert result.passed is None
    assert "path made by a template" in str(result.error), result.error
