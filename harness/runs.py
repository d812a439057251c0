"""Run records under ``<home>/runs/<run id>/``: the experiment as run, every result, the summary.

A run folder holds ``run.json`` (what was run, options, status, counts), ``experiment.yaml``
(the file as it was), ``journal.jsonl`` (results as they finished; what ``--resume`` reads),
``lock`` (held by the process working on the run) and, once finished, ``results.jsonl`` and
``summary.json``. Reading tolerates damage: unreadable result lines are skipped and counted.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._redact import redact
from harness._run.journal import Journal, read_lines
from harness._run.lock import RunLock
from harness.errors import HarnessError
from harness.results import Result

__all__ = [
    "ResultList",
    "RunDir",
    "find_resumable",
    "list_runs",
    "new_run",
    "open_run",
    "resume_run",
]


class ResultList(list[Result]):
    """Results read from a run's files; ``skipped`` counts lines that could not be read."""

    def __init__(self, results: list[Result], skipped: int = 0, source: str = "") -> None:
        super().__init__(results)
        self.skipped = skipped
        self.source = source


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
        text = json.dumps(meta, indent=2, ensure_ascii=False, default=str)
        tmp.write_text(redact(text), "utf-8")  # a failure message may quote a key
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

    def results(self) -> ResultList:
        """Final results when the run finished, else whatever the journal holds."""
        final = self.path / "results.jsonl"
        if final.is_file():
            return ResultList(*read_lines(final), final.name)
        found, skipped = Journal.read_counted(self.journal_path)
        return ResultList(list(found.values()), skipped, self.journal_path.name)

    def damage_note(self) -> str | None:
        """What ``show`` and ``compare`` warn about when result lines could not be read."""
        results = self.results()
        if not results.skipped:
            return None
        lines = f"{results.skipped} unreadable line{'s' * (results.skipped != 1)}"
        return f"run {self.id}: skipped {lines} in {results.source} (damaged or truncated)"


def _runs_root(home: Path) -> Path:
    return home / "runs"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "run"


def new_run(
    home: Path, name: str, source: Path, source_text: str, meta: Mapping[str, Any]
) -> tuple[RunDir, RunLock]:
    """Create a run folder, locked before run.json makes it visible to ``--resume``."""
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}-{secrets.token_hex(2)}"
    path = _runs_root(home) / run_id
    path.mkdir(parents=True)
    lock = RunLock.acquire(path)
    try:
        (path / "experiment.yaml").write_text(redact(source_text), "utf-8")
        run = RunDir(path)
        run.update(
            id=run_id,
            experiment=name,
            source=str(source.resolve()),
            status="running",
            started=time.time(),
            **meta,
        )
    except BaseException:
        lock.release()
        raise
    return run, lock


def list_runs(home: Path) -> list[RunDir]:
    """Runs, oldest first."""
    root = _runs_root(home)
    if not root.is_dir():
        return []
    return sorted(
        (RunDir(p) for p in root.iterdir() if (p / "run.json").exists()),
        key=lambda r: (_started(r.meta()), r.id),
    )


def _started(meta: Mapping[str, Any]) -> float:
    """When a run started; 0 when run.json lacks it or holds something else (edited files)."""
    value = meta.get("started")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0


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


def resume_run(
    home: Path, source: Path, keep_errors: bool = False
) -> tuple[RunDir, RunLock, dict[tuple[str, str, int], Result]] | None:
    """The latest unfinished run of ``source``, locked, with the results it keeps.

    A run another process holds raises HarnessError. Results that are errors (a request
    that failed after its retries) are dropped, so they are asked again, unless
    ``keep_errors``.
    """
    run = find_resumable(home, source)
    if run is None:
        return None
    lock = RunLock.acquire(run.path)
    try:
        if run.meta().get("status") == "finished":  # it finished while we were looking
            lock.release()
            return None
        done = Journal.read(run.journal_path)
        if not keep_errors:
            done = {k: r for k, r in done.items() if r.error is None}
        run.update(status="running", failure=None)
    except BaseException:
        lock.release()
        raise
    return run, lock, done
