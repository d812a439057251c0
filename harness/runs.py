"""Run records under ``<home>/runs/<run id>/``: the experiment as run, every result, the summary.

A run folder holds ``run.json`` (what was run, options, status, counts), ``experiment.yaml``
(the file as it was), ``journal.jsonl`` (results as they finished; what ``--resume`` reads),
``lock`` (held by the process working on the run) and, once finished, ``results.jsonl`` and
``summary.json`` (paths: :mod:`harness.home`; result lines: :mod:`harness.run_records`).
Reading tolerates damage: unreadable result lines are skipped and counted. ``run.json``
records the record format (``schema_version``); a run from a newer harness is refused.
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

from harness._lock import RunLock
from harness._redact import redact
from harness.errors import HarnessError
from harness.home import (
    journal_path,
    results_path,
    run_dir,
    run_meta_path,
    run_source_path,
    runs_root,
)
from harness.results import Result
from harness.run_records import (
    RECORD_VERSION,
    ResultKey,
    read_journal,
    read_results,
    record_version,
    write_results,
)

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
        return journal_path(self.path)

    def meta(self) -> dict[str, Any]:
        """run.json as written; empty when it is missing or unreadable."""
        try:
            data = json.loads(run_meta_path(self.path).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def record_version(self) -> int:
        """The run's record format; HarnessError when this harness cannot read it."""
        return record_version(self.meta(), self.id)

    def update(self, **values: Any) -> None:
        """Merge ``values`` into run.json, atomically."""
        meta = {**self.meta(), **values}
        target = run_meta_path(self.path)
        tmp = target.with_name(target.name + ".tmp")
        text = json.dumps(meta, indent=2, ensure_ascii=False, default=str)
        tmp.write_text(redact(text), "utf-8")  # a failure message may quote a key
        os.replace(tmp, target)

    def write_json(self, name: str, data: Any) -> None:
        tmp = self.path / f"{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), "utf-8")
        os.replace(tmp, self.path / name)

    def write_results(self, results: list[Result]) -> None:
        write_results(results_path(self.path), results)

    def results(self) -> ResultList:
        """Final results when the run finished, else whatever the journal holds."""
        self.record_version()
        final = results_path(self.path)
        if final.is_file():
            return ResultList(*read_results(final), final.name)
        found, skipped = read_journal(self.journal_path)
        return ResultList(list(found.values()), skipped, self.journal_path.name)

    def damage_note(self) -> str | None:
        """What ``show`` and ``compare`` warn about when result lines could not be read."""
        results = self.results()
        if not results.skipped:
            return None
        lines = f"{results.skipped} unreadable line{'s' * (results.skipped != 1)}"
        return f"run {self.id}: skipped {lines} in {results.source} (damaged or truncated)"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "run"


def new_run(
    home: Path, name: str, source: Path, source_text: str, meta: Mapping[str, Any]
) -> tuple[RunDir, RunLock]:
    """Create a run folder, locked before run.json makes it visible to ``--resume``."""
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}-{secrets.token_hex(2)}"
    path = run_dir(home, run_id)
    path.mkdir(parents=True)
    lock = RunLock.acquire(path)
    try:
        run_source_path(path).write_text(redact(source_text), "utf-8")
        run = RunDir(path)
        run.update(
            schema_version=RECORD_VERSION,
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
    root = runs_root(home)
    if not root.is_dir():
        return []
    return sorted(
        (RunDir(p) for p in root.iterdir() if run_meta_path(p).exists()),
        key=lambda r: (_started(r.meta()), r.id),
    )


def _started(meta: Mapping[str, Any]) -> float:
    """When a run started; 0 when run.json lacks it or holds something else (edited files)."""
    value = meta.get("started")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0


def open_run(home: Path, ref: str) -> RunDir:
    """A run by id, unique id prefix, or ``latest``, in a record format this harness reads."""
    runs = list_runs(home)
    if not runs:
        raise HarnessError(f"no runs recorded under {runs_root(home)}")
    if ref in ("latest", "last"):
        matches = runs[-1:]
    else:
        matches = [r for r in runs if r.id == ref] or [r for r in runs if r.id.startswith(ref)]
    if len(matches) != 1:
        reason = "no run" if not matches else f"{len(matches)} runs"
        raise HarnessError(f"{reason} matching {ref!r}; see `harness runs`")
    matches[0].record_version()
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
) -> tuple[RunDir, RunLock, dict[ResultKey, Result]] | None:
    """The latest unfinished run of ``source``, locked, with the results it keeps.

    A run another process holds, or one written by a newer harness, raises HarnessError.
    Results that are errors (a request that failed after its retries) are dropped, so they
    are asked again, unless ``keep_errors``.
    """
    run = find_resumable(home, source)
    if run is None:
        return None
    run.record_version()
    lock = RunLock.acquire(run.path)
    try:
        if run.meta().get("status") == "finished":  # it finished while we were looking
            lock.release()
            return None
        done = read_journal(run.journal_path)[0]
        if not keep_errors:
            done = {k: r for k, r in done.items() if r.error is None}
        run.update(status="running", failure=None)
    except BaseException:
        lock.release()
        raise
    return run, lock, done
