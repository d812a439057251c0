"""``Retry-After`` is honoured up to a cap (``--max-retry-after``), and the progress bar says so."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness._run.pipeline import RunOptions, run_experiment
from harness.experiment import load_experiment
from tests.conftest import MakeExperiment, run_cli
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"


def test_a_long_retry_after_is_capped(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.push_faults("429:600")  # "come back in ten minutes"
    path = make_experiment(3)
    start = time.monotonic()
    code, _, err = run_cli(
        ["run", str(path), "--home", str(tmp_path), "--max-retry-after", "0.2"], capsys
    )
    assert code == 0, err
    assert time.monotonic() - start < 30
    assert server.count(path=CHAT) == 4  # the 429, its retry and the two others


def test_progress_says_it_waits_and_why(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.push_faults("429:600")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    options = RunOptions(home=tmp_path, concurrency=1, max_retry_after=0.3)
    outcome = run_experiment(load_experiment(make_experiment(1)), options)
    assert outcome.stats.retries == 1 and outcome.results[0].error is None
    err = capsys.readouterr().err
    assert "waiting 0.3s (Retry-After, capped from 600s)" in err
