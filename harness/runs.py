"""Run records under ``<home>/runs/<run id>/``: the experiment as run, every result, the summary.

A run folder holds ``run.json`` (what was run, options, status, counts), ``experiment.yaml``
(the file as it was), ``journal.jsonl`` (results as they finished; what ``--resume`` reads)
and, once finished, ``results.jsonl`` and ``summary.json``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results import Result

__all__ = ["RunDir", "find_resumable", "list_runs", "new_run", "open_run"]


@dataclass(frozen=True)
class RunDir:
    """One run's folder."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def journal_path(self) -> Path:
        return self.path / "journal.jsonl"

    def meta(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / "run.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def update(self, **values: Any) -> None:
        """Merge ``values`` into run.json, atomically."""
        meta = {**self.meta(), **values}
        tmp = self.path / "run.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str), "utf-8")
        os.replace(tmp, self.path / "run.json")

    def write_json(self, name: str, data: Any) -> None:
        tmp = self.path / f"{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), "utf-8")
        os.replace(tmp, self.path / name)

    def write_results(self, results: list[Result]) -> None:
        tmp = self.path / "results.jsonl.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            for result in results:
                f.write(json.dumps(result.to_dict(), ensure_ascii=False, separators=(",", ":")))
                f.write("\n")
        os.replace(tmp, self.path / "results.jsonl")

    def results(self) -> list[Result]:
        """Final results when the run finished, else whatever the journal holds."""
        final = self.path / "results.jsonl"
        if final.exists():
            with final.open(encoding="utf-8") as f:
                return [Result.from_dict(json.loads(line)) for line in f if line.strip()]
        from harness._run.journal import Journal

        return list(Journal.read(self.journal_path).values())


def _runs_root(home: Path) -> Path:
    return home / "runs"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "run"


def new_run(
    home: Path, name: str, source: Path, source_text: str, meta: Mapping[str, Any]
) -> RunDir:
    """Create a run folder with its experiment copy and initial run.json."""
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}-{secrets.token_hex(2)}"
    path = _runs_root(home) / run_id
    path.mkdir(parents=True)
    (path / "experiment.yaml").write_text(source_text, "utf-8")
    run = RunDir(path)
    run.update(
        id=run_id,
        experiment=name,
        source=str(source.resolve()),
        status="running",
        started=time.time(),
        **meta,
    )
    return run


def list_runs(home: Path) -> list[RunDir]:
    """Runs, oldest first."""
    root = _runs_root(home)
    if not root.is_dir():
        return []
    return sorted(
        (RunDir(p) for p in root.iterdir() if (p / "run.json").exists()),
        key=lambda r: (r.meta().get("started", 0), r.id),
    )


def open_run(home: Path, ref: str) -> RunDir:
    """A run by id, unique id prefix, or ``latest``."""
    runs = list_runs(home)
    if not runs:
        raise HarnessError(f"no runs recorded under {_runs_root(home)}")
    if ref in ("latest", "last"):
        return runs[-1]
    matches = [r for r in runs if r.id == ref] or [r for r in runs if r.id.startswith(ref)]
    if len(matches) != 1:
        reason = "no run" if not matches else f"{len(matches)} runs"
        raise HarnessError(f"{reason} matching {ref!r}; see `harness runs`")
    return matches[0]


def find_resumable(home: Path, source: Path) -> RunDir | None:
    """The latest unfinished run of the same experiment file."""
    wanted = str(source.resolve())
    for run in reversed(list_runs(home)):
        meta = run.meta()
        if meta.get("source") == wanted:
            return run if meta.get("status") != "finished" else None
    return None
