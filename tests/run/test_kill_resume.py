"""A run killed with SIGKILL and resumed re-queries nothing that had finished."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.runs import list_runs
from tests.conftest import MakeExperiment
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"


def asked(server: FakeOpenAIServer) -> list[str]:
    return [r.messages[-1]["content"] for r in server.requests if r.path == CHAT and r.messages]


@pytest.mark.slow
def test_sigkill_then_resume(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.latency_s = 0.05
    path = make_experiment(150)
    home = tmp_path / "home"
    command = [
        sys.executable,
        "-m",
        "harness",
        "run",
        str(path),
        "--home",
        str(home),
        "--no-cache",
        "--concurrency",
        "4",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    journal = None
    while time.monotonic() < deadline:
        runs = list_runs(home)
        if runs and runs[0].journal_path.exists():
            journal = runs[0].journal_path
            if journal.read_bytes().count(b"\n") >= 40:
                break
        time.sleep(0.02)
    assert journal is not None, proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stderr is not None
    proc.stderr.close()
    lines = journal.read_bytes().splitlines()
    finished = set()
    for line in lines:
        with contextlib.suppress(ValueError):  # a torn last line is possible: ignored
            finished.add(json.loads(line)["case"])
    assert 40 <= len(finished) < 150
    assert list_runs(home)[0].meta()["status"] == "running"

    server.reset_log()
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    again = asked(server)
    finished_questions = {f"question {c[1:]}" for c in finished}
    assert not finished_questions & set(again)  # nothing finished was asked again
    assert len(again) == 150 - len(finished)  # and everything else exactly once

    (run,) = list_runs(home)
    assert run.meta()["status"] == "finished"
    results = run.results()
    assert sorted(r.case for r in results) == sorted(f"c{i}" for i in range(150))
    assert all(r.output == f"echo: question {r.case[1:]}" for r in results)
