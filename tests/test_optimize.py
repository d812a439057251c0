"""``harness optimize`` against the test server: the search sees only dev cases and
pool items that are no test case's twin; the result is confirmed on held-out cases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.experiment import DEV, HELDOUT, load_experiment
from harness.optimize import eligible_shots, optimize_shots, plan_search
from tests.conftest import run_cli
from tests.openai_server import FakeOpenAIServer
from tests.openai_server.chat import last_user_text, text_of


def _responder(body: dict[str, Any]) -> str:
    """Right only when the shots include pool item p07's example, or a test case's twin
    (which a leaking search would therefore love)."""
    messages = body["messages"]
    shots = " ".join(text_of(m["content"]) for m in messages[:-1] if m["role"] == "user")
    question = last_user_text(messages)
    if "example 7" in shots or "question" in shots:
        return f"echo: {question}"
    return "no idea"


@pytest.fixture
def helpful() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=_responder, api_key="sk-test") as srv:
        yield srv


def _experiment(tmp_path: Path, server: FakeOpenAIServer) -> Path:
    cases = [
        {"id": f"c{i:02d}", "input": f"question {i}", "expected": f"echo: question {i}"}
        for i in range(30)
    ]
    pool = [{"id": f"p{i:02d}", "input": f"example {i}", "expected": f"E{i}"} for i in range(24)]
    pool += [
        {"id": "twin-dev", "input": "question 0", "expected": "x"},  # c00's twin
        {"id": "twin-held", "input": "question 1", "expected": "x"},  # c01's twin
    ]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in cases))
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"name: opt\nmodels:\n  - id: openai:echo-1\n    base_url: {server.base_url}\n"
        "    api_key: sk-test\n"
        "params: {temperature: 0, max_tokens: 8}\n"
        'prompts:\n  - {id: p, user: "{{ input }}"}\n'
        "examples: {file: pool.jsonl}\n"
        "shots: [0, 3]\nselectors: [first, random]\n"
        "tests:\n  file: cases.jsonl\n  split: {dev: 0.5, seed: 1}\n"
        '  assert: [{equals: "{{ expected }}"}]\n'
    )
    return path


def test_the_search_finds_the_helpful_example_and_it_holds_on_held_out_cases(
    tmp_path: Path, helpful: FakeOpenAIServer
) -> None:
    exp = load_experiment(_experiment(tmp_path, helpful))
    home = tmp_path / "home"
    result = optimize_shots(exp, k=3, candidates=24, home=home, progress=False)
    assert "p07" in result.best.candidate.ids
    assert result.best.pass_rate == 1.0
    assert result.path == tmp_path / "exp.optimized.yaml"
    written = load_experiment(result.path)
    assert written.spec.baseline == "p/k0/openai:echo-1"
    # the file's selectors follow, best on dev first (random shows p07 to some cases)
    assert [s.key for s in written.spec.selectors] == ["optimized", "random", "first"]
    assert written.split == exp.split  # the same held-out cases
    held = result.heldout
    assert held.summary.split == HELDOUT and len(held.summary.variants) == 4
    assert held.variant("p/k3/optimized/*").pass_rate == 1.0
    baseline = result.baseline
    assert baseline.name == "zero-shot" and baseline.variant == "p/k0/openai:echo-1"
    assert baseline.paired.diff == 1.0 and baseline.paired.cases == 15
    assert baseline.p_holm < 0.05 and "the gain holds" in result.verdict
    assert baseline.p_holm == min(1.0, baseline.paired.p_value * len(result.tried))
    assert result.versus("first").paired.diff == 1.0
    assert [a.name for a in result.against] == ["zero-shot", "random", "first"]


def test_no_test_case_is_a_shot_or_a_judge_of_the_search(
    tmp_path: Path, helpful: FakeOpenAIServer
) -> None:
    exp = load_experiment(_experiment(tmp_path, helpful))
    assert exp.split is not None
    eligible = eligible_shots(exp)
    assert "twin-dev" not in eligible and "twin-held" not in eligible
    home = tmp_path / "home"
    result = optimize_shots(exp, k=2, candidates=8, home=home, progress=False)
    for tried in result.tried:
        assert not {"twin-dev", "twin-held"} & set(tried.candidate.ids)
    # the search's own runs hold dev cases only; held-out cases appear only in the
    # confirmation run of the written file
    searched = held_out_seen = 0
    for run in (home / "runs").iterdir():
        meta = json.loads((run / "run.json").read_text())
        lines = (run / "results.jsonl").read_text().splitlines()
        cases = {json.loads(line)["case"] for line in lines}
        if meta["experiment"] == "opt-optimize":
            searched += 1
            assert cases <= exp.split.dev
        else:
            held_out_seen += 1
            assert cases & exp.split.heldout
    assert searched >= 3 and held_out_seen == 1


def test_a_budget_cuts_the_candidates_and_dry_run_counts_them(
    tmp_path: Path, helpful: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _experiment(tmp_path, helpful)
    exp = load_experiment(path)
    plan = plan_search(exp, k=3, candidates=12, budget_requests=300)
    assert plan.requests <= 300 and plan.reduced_from == 12
    # 15 dev cases x (2 selectors + zero-shot + random sets + 3 greedy steps x tries)
    assert plan.requests == 15 * (3 + plan.random_sets + 3 * plan.greedy_tries)
    code, out, err = run_cli(
        ["optimize", str(path), "--budget-requests", "300", "--dry-run"], capsys
    )
    assert code == 0 and f"{plan.requests} dev requests" in out and "cut from 12" in err
    assert helpful.count(path="/v1/chat/completions") == 0
    code, _, err = run_cli(["optimize", str(path), "--budget-requests", "50"], capsys)
    assert code == 2 and "too small" in err


def test_optimize_needs_a_split(
    tmp_path: Path, helpful: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _experiment(tmp_path, helpful)
    path.write_text(path.read_text().replace("  split: {dev: 0.5, seed: 1}\n", ""))
    code, _, err = run_cli(["optimize", str(path)], capsys)
    assert code == 2 and "give the experiment a split" in err and "Traceback" not in err


def test_the_cli_reports_the_search_and_the_held_out_verdict(
    tmp_path: Path, helpful: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _experiment(tmp_path, helpful)
    home = str(tmp_path / "home")
    code, out, _ = run_cli(["optimize", str(path), "--candidates", "24", "--home", home], capsys)
    assert code == 0
    assert "dev cases: the" in out and "held-out cases: the answer" in out
    assert "the gain holds on held-out cases" in out
    assert (
        (tmp_path / "exp.optimized.yaml").read_text().startswith("# Written by `harness optimize`")
    )
    assert DEV  # (imported for the split names the report uses)


def test_a_gain_that_does_not_hold_is_said_plainly_and_every_prompt_is_searched(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    # the echo server answers every case right, shots or not: nothing to gain
    path = _experiment(tmp_path, server)
    path.write_text(
        path.read_text().replace(
            'prompts:\n  - {id: p, user: "{{ input }}"}\n',
            'prompts:\n  - {id: p, user: "{{ input }}"}\n  - {id: q, user: "{{ input }}"}\n',
        )
    )
    result = optimize_shots(load_experiment(path), k=2, candidates=4, home=tmp_path / "h")
    assert {t.prompt for t in result.tried} == {"p", "q"}  # the prompt x shots search
    assert result.baseline.paired.diff == 0.0
    assert "the gain does not hold on held-out cases" in result.verdict
    assert "holds on held-out cases." not in result.verdict.replace("does not hold", "")


def test_the_output_is_checked_before_any_request(
    tmp_path: Path, helpful: FakeOpenAIServer
) -> None:
    from harness.errors import HarnessError

    exp = load_experiment(_experiment(tmp_path, helpful))
    for bad, why in ((exp.path, "replace the experiment"), (tmp_path / "x" / "o.yaml", "beside")):
        with pytest.raises(HarnessError, match=why):
            optimize_shots(exp, k=2, candidates=2, home=tmp_path / "h", output=bad)
    assert helpful.count(path="/v1/chat/completions") == 0
