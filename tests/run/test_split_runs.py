"""Split experiments: every variant on dev cases, the winner confirmed on held-out cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import run
from harness.experiment import DEV, HELDOUT, load_experiment
from tests.conftest import run_cli
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"


def _split_experiment(
    tmp_path: Path, server: FakeOpenAIServer, cases: int = 40, split: str = "{dev: 0.5, seed: 0}"
) -> Path:
    """Three prompts on the echo server: `good` passes every case, `half` every other one,
    `bad` none; `bad` is the baseline."""
    rows = [
        {
            "id": f"c{i:02d}",
            "input": f"question {i}",
            "alt": f"question {i}" if i % 2 else "nonsense",
            "expected": f"echo: question {i}",
            "label": "even" if i % 2 == 0 else "odd",
        }
        for i in range(cases)
    ]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"name: split\nmodels:\n  - id: openai:echo-1\n    base_url: {server.base_url}\n"
        "    api_key: sk-test\n"
        "params: {temperature: 0, max_tokens: 8}\n"
        "prompts:\n"
        '  - {id: good, user: "{{ input }}"}\n'
        '  - {id: half, user: "{{ alt }}"}\n'
        '  - {id: bad, user: "no {{ input }}"}\n'
        "baseline: bad/k0/openai:echo-1\n"
        f"tests:\n  file: cases.jsonl\n  split: {split}\n"
        '  assert: [{equals: "{{ expected }}"}]\n'
    )
    return path


def test_the_winner_is_chosen_on_dev_and_reported_on_held_out_cases(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = _split_experiment(tmp_path, server)
    result = run(path, home=tmp_path / "home", progress=False)
    exp = load_experiment(path)
    assert exp.split is not None and len(exp.split.dev) == len(exp.split.heldout) == 20
    # every variant on 20 dev cases; the winner and the baseline on 20 held-out cases;
    # `half` is separable from `good` on dev (10 discordant cases), so it stops there
    by_split = [sum(r.split == split for r in result.results) for split in (DEV, HELDOUT)]
    assert by_split == [3 * 20, 2 * 20]
    assert result.selection is not None and result.selection.split == DEV
    assert [v.variant.prompt for v in result.selection.variants] == ["good", "half", "bad"]
    assert result.summary.split == HELDOUT
    assert [v.variant.prompt for v in result.summary.variants] == ["good", "bad"]
    assert result.best.pass_rate == 1.0
    assert all(r.split == exp.split.of(r.case) for r in result.results)
    held = {r.case for r in result.results if r.variant == result.best.id and r.split == HELDOUT}
    assert held == set(exp.split.heldout)
    # the held-out comparison with the baseline uses held-out cases only
    good = result.summary.get("good/k0/openai:echo-1")
    assert good.vs_baseline is not None and good.vs_baseline.cases == 20
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["split"] == HELDOUT
    assert {v["split"] for v in summary["variants"]} == {HELDOUT}
    assert {v["split"] for v in summary["selection"]["variants"]} == {DEV}
    html = result.report_html.read_text() if result.report_html else ""
    assert "How the winner was chosen" in html and "held-out cases: the answer" in html


def test_all_held_out_runs_every_variant_on_both_splits(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = _split_experiment(tmp_path, server)
    result = run(path, home=tmp_path / "home", progress=False, all_heldout=True)
    assert len(result.results) == 3 * 40
    assert len(result.summary.variants) == 3
    assert result.selection is not None and result.selection.best == result.summary.best


def test_the_cli_shows_the_held_out_answer_first_and_the_selection_second(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _split_experiment(tmp_path, server)
    code, out, _ = run_cli(["run", str(path), "--home", str(tmp_path / "home")], capsys)
    assert code == 0
    answer, selection = out.index("held-out cases: the answer"), out.index("dev cases:")
    assert answer < selection
    code, out, _ = run_cli(
        ["run", str(path), "--home", str(tmp_path / "home"), "--format", "json"], capsys
    )
    data = json.loads(out)
    assert data["split"] == HELDOUT and data["selection"]["split"] == DEV
    assert {c["split"] for c in data["cases"]} == {DEV, HELDOUT}


def test_validate_reports_the_split_and_refuses_a_small_held_out_set(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _split_experiment(tmp_path, server)
    code, out, _ = run_cli(["validate", str(path)], capsys)
    assert code == 0 and "20 dev cases" in out and "20 held-out cases" in out
    code, _, _ = run_cli(["validate", str(_split_experiment(tmp_path, server, cases=20))], capsys)
    assert code == 0  # 10 held-out cases are enough
    code, _, err = run_cli(["validate", str(_split_experiment(tmp_path, server, 18))], capsys)
    assert code == 2 and "exp.yaml:14:10:" in err and "holds out 9 case(s)" in err


def test_a_split_run_stopped_on_dev_resumes_into_its_held_out_step(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = _split_experiment(tmp_path, server)
    path.write_text(path.read_text().replace("openai:echo-1", "openai:gpt-4o-mini"))
    home = tmp_path / "home"
    stopped = run(path, home=home, progress=False, max_cost=0.00002, concurrency=1)
    assert stopped.aborted and stopped.selection is None  # it never reached held-out cases
    assert {r.split for r in stopped.results if r.error is None} == {DEV}
    resumed = run(path, home=home, progress=False, resume=True, max_cost=1.0)
    assert resumed.aborted is None and resumed.resumed_from == stopped.run_id
    assert resumed.summary.split == HELDOUT and resumed.selection is not None
    # what was answered before is kept, not asked again; then the held-out step runs
    assert resumed.stats.resumed == sum(r.error is None for r in stopped.results) > 0
    assert sum(r.split == HELDOUT for r in resumed.results) == 2 * 20
