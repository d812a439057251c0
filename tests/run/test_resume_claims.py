"""What ``--resume`` takes over: failed requests are asked again, and one process per run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness._lock import RunLock
from harness._run.pipeline import RunOptions, RunOutcome, run_experiment
from harness.errors import HarnessError
from harness.experiment import load_experiment
from harness.runs import list_runs, new_run
from tests.conftest import MakeExperiment, run_cli
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"


def run(path: Path, home: Path, **options: object) -> RunOutcome:
    opts = RunOptions(home=home, progress=False, **options)  # type: ignore[arg-type]
    return run_experiment(load_experiment(path), opts)


def aborted_with_one_error(path: Path, home: Path, server: FakeOpenAIServer) -> None:
    """c0 fails after all its retries, then a fatal error aborts the run (resumable)."""
    server.set_faults(["429"] * 6 + ["quota"])
    first = run(path, home, concurrency=1)
    assert first.aborted is not None
    assert [r.case for r in first.results if r.error] == ["c0"]
    server.reset_log()


def test_resume_asks_failed_requests_again(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path, home = make_experiment(4), tmp_path / "home"
    aborted_with_one_error(path, home, server)
    resumed = run(path, home, resume=True)
    assert server.count(path=CHAT) == 4  # c0 again, and c1..c3 never answered
    assert all(r.error is None for r in resumed.results) and resumed.stats.resumed == 0


def test_keep_errors_keeps_them(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, home = make_experiment(4), tmp_path / "home"
    aborted_with_one_error(path, home, server)
    capsys.readouterr()
    args = ["run", str(path), "--home", str(home), "--resume", "--keep-errors"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert server.count(path=CHAT) == 3
    (run_dir,) = list_runs(home)
    assert [r.case for r in run_dir.results() if r.error] == ["c0"]


@pytest.mark.slow
def test_a_second_resume_refuses_a_run_another_process_holds(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.latency_s = 0.05
    path, home = make_experiment(60), tmp_path / "home"
    command = [sys.executable, "-m", "harness", "run", str(path), "--home", str(home)]
    first = subprocess.Popen(
        [*command, "--no-cache", "--concurrency", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = list_runs(home)
        if runs and runs[0].journal_path.exists() and runs[0].journal_path.stat().st_size:
            break
        time.sleep(0.02)
    second = subprocess.run(
        [*command, "--no-cache", "--resume"], capture_output=True, text=True, timeout=60
    )
    assert first.poll() is None, "the first run ended before the second started"
    assert second.returncode == 2, second.stderr
    (run_dir,) = list_runs(home)
    assert f"run {run_dir.id} is in use by another process (pid {first.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert server.count(path=CHAT) == 60  # every result asked once, by the first process
    assert run_dir.meta()["status"] == "finished"


def test_a_new_run_is_locked_before_resume_can_see_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    visible_before_locked = []
    acquire = RunLock.acquire

    def spy(folder: Path) -> RunLock:
        visible_before_locked.append((folder / "run.json").exists())
        return acquire(folder)

    monkeypatch.setattr(RunLock, "acquire", spy)
    source = tmp_path / "exp.yaml"
    run_dir, lock = new_run(tmp_path / "home", "exp", source, "name: exp\n", {})
    with lock:
        assert visible_before_locked == [False]
        with pytest.raises(HarnessError, match=f"run {run_dir.id} is in use"):
            acquire(run_dir.path)  # another claim (a second descriptor) is refused
    acquire(run_dir.path).release()  # and released with the run
