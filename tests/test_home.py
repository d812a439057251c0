"""The harness home's layout: every path the harness writes is named by harness.home."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import home as layout
from harness.home import harness_home


def test_the_layout_names_the_paths_the_harness_has_always_used(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = home / "runs" / "20240101-000000-exp-abcd"
    assert layout.cache_path(home) == home / "cache.sqlite"
    assert layout.runs_root(home) == home / "runs"
    assert layout.run_dir(home, run.name) == run
    assert layout.run_meta_path(run) == run / "run.json"
    assert layout.run_source_path(run) == run / "experiment.yaml"
    assert layout.journal_path(run) == run / "journal.jsonl"
    assert layout.results_path(run) == run / "results.jsonl"
    assert layout.summary_path(run) == run / "summary.json"
    assert layout.run_lock_path(run) == run / "lock"
    assert layout.adapters_root(home) == home / "adapters"
    assert layout.adapter_dir(home, "date-lora") == home / "adapters" / "date-lora"
    assert layout.adapter_meta_path(home, "date-lora") == home / "adapters/date-lora/harness.json"
    assert layout.finetune_root(home) == home / "finetune"
    assert layout.hosted_jobs_path(home) == home / "finetune" / "hosted_jobs.json"
    assert layout.training_data_path(home, "exp", "tuned-n8") == (
        home / "finetune" / "data" / "exp-tuned-n8.jsonl"
    )
    assert layout.models_root(home) == home / "models"
    assert layout.embeddings_root(home) == home / "embeddings"


def test_computing_a_path_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    layout.adapter_meta_path(home, "x")
    layout.journal_path(layout.run_dir(home, "r"))
    assert not home.exists()


def test_harness_home_resolves_and_creates_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_HOME", raising=False)
    assert harness_home() == tmp_path / ".harness" and (tmp_path / ".harness").is_dir()
    monkeypatch.setenv("HARNESS_HOME", "from-env")
    assert harness_home() == tmp_path / "from-env"
    assert harness_home("given") == tmp_path / "given"
