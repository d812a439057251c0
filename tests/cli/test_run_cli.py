"""`harness run`, `runs`, `show` and `compare` against a real local HTTP model server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.runs import list_runs
from tests.conftest import MakeExperiment
from tests.conftest import run_cli as run
from tests.openai_server import FakeOpenAIServer

CHECKS = '  assert:\n    - equals: "{{ expected }}"\n'


def test_run_prints_table_and_exit_codes(
    make_experiment: MakeExperiment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    path = make_experiment(12, extra=CHECKS + "min_pass_rate: 0.9\n")
    code, out, err = run(["run", str(path), "--home", home], capsys)
    assert code == 0, err
    assert "★" in out and "100.0%" in out

    strict = make_experiment(
        12,
        extra=CHECKS + "  normalize: [{extract: '(\\d+)'}]\nmin_pass_rate: 0.9\n",
        name="strict.yaml",
    )
    code, _, err = run(["run", str(strict), "--home", home], capsys)
    assert code == 1 and "below min_pass_rate" in err

    out_file = tmp_path / "report.json"
    code, out, _ = run(
        ["run", str(path), "--home", home, "--format", "csv", "-o", str(out_file)], capsys
    )
    assert code == 0 and out.startswith("mark,variant")
    assert json.loads(out_file.read_text())["variants"][0]["pass_rate"] == 1.0


def test_runs_show_compare(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = str(tmp_path / "home")
    path = make_experiment(6, extra=CHECKS)
    assert run(["run", str(path), "--home", home], capsys)[0] == 0
    server.responder = lambda body: (
        "wrong" if "question 2" in str(body) else "echo: " + body["messages"][-1]["content"]
    )
    code, _, _ = run(["run", str(path), "--home", home, "--no-cache"], capsys)
    assert code == 0
    code, out, _ = run(["runs", "--home", home], capsys)
    assert out.count("finished") == 2
    code, out, _ = run(["show", "latest", "--home", home, "--failures"], capsys)
    assert "[FAIL]" in out and "expected 'echo: question 2', got 'wrong'" in out
    assert "1 result(s) shown" in out
    runs = [r.id for r in list_runs(tmp_path / "home")]  # oldest first
    code, out, _ = run(["compare", runs[0], runs[1], "--home", home], capsys)
    assert code == 1 and "regressions (1)" in out and "c2" in out


def test_dry_run_calls_nothing(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make_experiment(5, model="openai:gpt-4o-mini")
    code, out, _ = run(["run", str(path), "--dry-run", "--home", str(tmp_path)], capsys)
    assert code == 0 and "total" in out
    assert server.count(path="/v1/chat/completions") == 0


def test_python_checks_need_permission(
    make_experiment: MakeExperiment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_experiment(2, extra="  assert:\n    - python: mod:fn\n")
    code, _, err = run(["validate", str(path)], capsys)
    assert code == 2 and "--allow-python" in err
    assert run(["validate", str(path), "--allow-python"], capsys)[0] == 0


def test_python_check_module_beside_the_experiment(
    make_experiment: MakeExperiment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "exp_checks_beside.py").write_text(
        "def echoes(output, case):\n    return output.startswith('echo:'), 'no echo'\n"
    )
    path = make_experiment(2, extra="  assert:\n    - python: exp_checks_beside:echoes\n")
    code, out, err = run(
        ["run", str(path), "--home", str(tmp_path / "h"), "--allow-python"], capsys
    )
    assert code == 0, err
    assert "100.0%" in out
