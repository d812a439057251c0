"""Where the harness keeps caches, run records and converted models: the home's layout.

Every path under the harness home is named here and nowhere else::

    <home>/
      cache.sqlite                     responses already paid for
      runs/<run id>/                   one run's record (see harness.runs)
        run.json  experiment.yaml  journal.jsonl  results.jsonl  summary.json  lock
        requests.json  report.html
      adapters/<name>/harness.json     a trained LoRA adapter and how it was trained
      finetune/hosted_jobs.json        hosted fine-tuning jobs, as last seen
      finetune/data/<exp>-<name>.jsonl training data written for an experiment
      models/                          GGUF files converted for transformers
      embeddings/                      pool embeddings, by content hash

The functions only compute paths; only :func:`harness_home` creates anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.errors import HarnessError

__all__ = [
    "ADAPTER_NAME",
    "adapter_dir",
    "adapter_meta_path",
    "adapters_root",
    "cache_path",
    "embeddings_root",
    "finetune_root",
    "harness_home",
    "hosted_jobs_path",
    "journal_path",
    "models_root",
    "report_path",
    "requests_path",
    "results_path",
    "run_dir",
    "run_lock_path",
    "run_meta_path",
    "run_source_path",
    "runs_root",
    "summary_path",
    "training_data_path",
]


def harness_home(override: str | os.PathLike[str] | None = None) -> Path:
    """The harness home: ``override``, else ``$HARNESS_HOME``, else ``./.harness``.

    The directory is created on first use so callers can write into it directly.
    """
    raw = override or os.environ.get("HARNESS_HOME") or ".harness"
    path = Path(raw).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


# The home ----------------------------------------------------------------------------------


def cache_path(home: Path) -> Path:
    """The response cache (SQLite)."""
    return home / "cache.sqlite"


def runs_root(home: Path) -> Path:
    """The folder holding one folder per run."""
    return home / "runs"


def run_dir(home: Path, run_id: str) -> Path:
    """One run's folder."""
    return runs_root(home) / run_id


def adapters_root(home: Path) -> Path:
    """The folder holding one folder per trained LoRA adapter."""
    return home / "adapters"


ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+@-]{0,199}")
"""An adapter's name: the last part of ``local:BASE+NAME`` and a folder under ``adapters/``,
so never a path (no separators, nothing that climbs out of the folder)."""


def adapter_dir(home: Path, name: str) -> Path:
    """One named adapter's folder (the weights peft saves, and ``harness.json``)."""
    if not ADAPTER_NAME.fullmatch(name):
        raise HarnessError(
            f"adapter name {name!r} must start with a letter or digit and use only letters, "
            "digits and _ . : + @ - (it names a folder under the harness home's adapters/)"
        )
    return adapters_root(home) / name


def adapter_meta_path(home: Path, name: str) -> Path:
    """What the harness recorded about training adapter ``name`` (base, data hash, time)."""
    return adapter_dir(home, name) / "harness.json"


def finetune_root(home: Path) -> Path:
    """Fine-tuning's own files: the hosted-job record and prepared training data."""
    return home / "finetune"


def hosted_jobs_path(home: Path) -> Path:
    """The record of hosted fine-tuning jobs, replaced atomically on every change."""
    return finetune_root(home) / "hosted_jobs.json"


def training_data_path(home: Path, experiment: str, name: str) -> Path:
    """The training data written for model ``name`` declared by ``experiment``."""
    return finetune_root(home) / "data" / f"{experiment}-{name}.jsonl"


def models_root(home: Path) -> Path:
    """Local models converted from GGUF files."""
    return home / "models"


def embeddings_root(home: Path) -> Path:
    """Cached pool embeddings."""
    return home / "embeddings"


# One run's folder (``run`` is a folder given by :func:`run_dir`) ---------------------------


def run_meta_path(run: Path) -> Path:
    """What was run, its options, status and counts."""
    return run / "run.json"


def run_source_path(run: Path) -> Path:
    """The experiment file as it was when the run started."""
    return run / "experiment.yaml"


def journal_path(run: Path) -> Path:
    """Results appended as they finish (what ``--resume`` reads)."""
    return run / "journal.jsonl"


def results_path(run: Path) -> Path:
    """Every result, written once the run finished."""
    return run / "results.jsonl"


def summary_path(run: Path) -> Path:
    """The summary, written once the run finished."""
    return run / "summary.json"


def requests_path(run: Path) -> Path:
    """The messages and parameters each result was asked with (harness.run_requests)."""
    return run / "requests.json"


def report_path(run: Path) -> Path:
    """The run's self-contained HTML report (harness.report.html)."""
    return run / "report.html"


def run_lock_path(run: Path) -> Path:
    """The file locked by the process working on the run."""
    return run / "lock"
