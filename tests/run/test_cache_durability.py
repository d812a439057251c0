"""Cache writes survive SIGKILL: committed by time, and resumed results are written back."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness._run.cache import ResponseCache, response_entry
from harness._run.pipeline import RunOptions, RunOutcome, run_experiment
from harness.experiment import load_experiment
from harness.runs import list_runs
from tests.conftest import MakeExperiment
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"


def rows(cache: Path) -> int:
    """Committed rows, read as another process would (a second connection)."""
    with sqlite3.connect(cache) as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def run(path: Path, home: Path, **options: object) -> RunOutcome:
    opts = RunOptions(home=home, progress=False, **options)  # type: ignore[arg-type]
    return run_experiment(load_experiment(path), opts)


def test_a_put_is_committed_within_the_interval_without_another_put(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path, interval=0.2)

    async def one_response_then_idle() -> None:
        cache.put("k1", response_entry("a", 1, 1, 1.0, "stop"))
        await asyncio.sleep(0.5)  # e.g. waiting on slow requests; no further put
        assert rows(path) == 1

    asyncio.run(one_response_then_idle())
    cache.close()


def test_resumed_results_are_written_back_to_the_cache(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path, home = make_experiment(8), tmp_path / "home"
    first = run(path, home, use_cache=False)  # in the journal, not in the cache
    first.run.update(status="interrupted")  # as if killed before the cache committed
    resumed = run(path, home, resume=True)
    assert resumed.stats.resumed == 8 and rows(home / "cache.sqlite") == 8
    server.reset_log()
    fresh = run(path, home)
    assert server.count(path=CHAT) == 0 and fresh.stats.cached == 8


@pytest.mark.slow
def test_sigkill_keeps_committed_cache_rows_and_resume_completes_the_cache(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.latency_s = 0.1
    path, home = make_experiment(150), tmp_path / "home"
    command = [sys.executable, "-m", "harness", "run", str(path), "--home", str(home)]
    proc = subprocess.Popen(
        [*command, "--concurrency", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    journaled = 0
    while time.monotonic() < deadline and journaled < 60:
        runs = list_runs(home)
        if runs and runs[0].journal_path.exists():
            journaled = runs[0].journal_path.read_bytes().count(b"\n")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    killed_at = time.time()
    proc.wait(timeout=10)
    assert journaled >= 60
    finished = list_runs(home)[0].journal_path.read_bytes().count(b"\n")
    # Requests that arrived in the last second may have finished after the last commit.
    recent = sum(1 for r in server.requests if r.path == CHAT and r.time > killed_at - 1.0)
    assert rows(home / "cache.sqlite") >= finished - recent > 0

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    server.reset_log()
    fresh = subprocess.run(command, capture_output=True, text=True, timeout=120)  # a new run
    assert fresh.returncode == 0, fresh.stderr
    assert server.count(path=CHAT) == 0
    assert len(list_runs(home)) == 2
