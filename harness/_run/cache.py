"""The response cache: SQLite in WAL mode under the harness home, shared by every run.

Keys hash everything that determines an answer (provider, model, base URL, messages,
params, repeat index) and nothing secret. Lookups are done in bulk before a run starts.
Writes are committed by time, not count: rows wait at most ``interval`` seconds (0.5), so
a run killed with SIGKILL loses only the last half second, and a busy run still pays about
two transactions a second. The file is user data that can be damaged or replaced: a cache
that SQLite cannot read is moved aside with a warning and replaced by a fresh one, and a
row that does not hold a valid response is a miss, never an exception.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models.base import GenerationParams

__all__ = ["ResponseCache", "request_key", "response_entry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
"""
# quick_check reads every page (about 1 GB/s when the file is in the page cache): on open
# only up to this size; past it damage is found when a query fails, and handled the same.
_QUICK_CHECK_MAX_BYTES = 256 << 20
# Contention or a full disk: the file is fine, so it is never moved aside for these.
_NOT_DAMAGE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_PERM"}


def request_key(
    identity: Mapping[str, Any], messages: Any, params: GenerationParams, repeat: int
) -> str:
    """A stable hash of everything that determines a model's answer."""
    blob = json.dumps(
        [identity, messages, params.to_dict(), repeat],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def response_entry(
    text: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    latency_ms: float | None,
    finish_reason: str | None,
    *,
    compute_s: float | None = None,
    compute_device: str | None = None,
) -> dict[str, Any]:
    """What the cache stores for one response (the fields of ``ModelResponse`` it keeps).

    A measured answer also keeps its machine time (``compute_s`` on ``compute_device``), so
    a cached answer still says what generating it cost (``harness decide`` prices queries
    by it); answers nobody timed are stored without those keys, as they always were.
    """
    entry: dict[str, Any] = {
        "text": text,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "latency_ms": latency_ms,
        "finish_reason": finish_reason,
    }
    if compute_s is not None:
        entry["compute_s"] = compute_s
        entry["compute_device"] = compute_device
    return entry


class ResponseCache:
    """Cached responses keyed by :func:`request_key`; ``flush()`` commits pending writes."""

    def __init__(self, path: Path, *, interval: float = 0.5) -> None:
        self.path = path
        self._interval = interval
        self._pending: list[tuple[str, str, float]] = []
        self._last_commit = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            self._db = self._replace_damaged(exc)
        except OSError as exc:
            raise HarnessError(f"cannot open the response cache {path}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            if self.path.stat().st_size <= _QUICK_CHECK_MAX_BYTES:
                verdict = db.execute("PRAGMA quick_check(1)").fetchone()
                if verdict is None or verdict[0] != "ok":
                    found = " ".join(str(verdict and verdict[0]).split())
                    raise sqlite3.DatabaseError(f"integrity check failed: {found}")
        except BaseException:
            db.close()
            raise
        return db

    def _replace_damaged(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection:
        """Move the unreadable file (and its -wal/-shm) aside, warn, and start afresh."""
        if not _is_damage(exc):
            raise HarnessError(f"cannot use the response cache {self.path}: {exc}") from exc
        base = f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        aside, n = self.path.with_name(base), 1
        while aside.exists() or aside.is_symlink():
            n += 1
            aside = self.path.with_name(f"{base}-{n}")
        moved = False
        try:
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                if source.exists() or source.is_symlink():
                    os.replace(source, f"{aside}{suffix}")
                    moved = True
            db = self._open()
        except (OSError, sqlite3.DatabaseError) as again:
            raise HarnessError(
                f"the response cache {self.path} is damaged ({exc}) and could not be "
                f"replaced: {again}; delete it or run with --no-cache"
            ) from again
        if moved:
            print(
                f"warning: the response cache {self.path} is damaged ({exc}); moved it to "
                f"{aside.name} and started a fresh cache",
                file=sys.stderr,
            )
        return db

    def _recover(self, exc: sqlite3.DatabaseError) -> bool:
        """After a failed query: damage found late (big files skip quick_check) is handled
        as on opening, or with a cache in memory; False when the file is fine (busy, full).
        """
        if not _is_damage(exc):
            print(f"warning: the response cache {self.path}: {exc}", file=sys.stderr)
            return False
        self._db.close()
        try:
            self._db = self._replace_damaged(exc)
        except HarnessError as failed:
            print(f"warning: {failed}; this run goes on without it", file=sys.stderr)
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._db.executescript(_SCHEMA)
        return True

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The valid cached responses among ``keys``; invalid rows are deleted (misses)."""
        unique = list(dict.fromkeys(keys))
        try:
            return self._get_many(unique)
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            return {}  # a fresh cache (or an unreadable one) has none of them

    def _get_many(self, unique: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        bad: list[str] = []
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk
            )
            for key, response in rows:
                entry = _valid_entry(response)
                if entry is None:
                    bad.append(key)
                else:
                    found[key] = entry
        if bad:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("DELETE FROM responses WHERE key = ?", [(k,) for k in bad])
        return found

    def put(self, key: str, response: Mapping[str, Any]) -> None:
        """Queue a write; it is committed within ``interval`` seconds (or on ``close``)."""
        self._pending.append((key, json.dumps(response, ensure_ascii=False), time.time()))
        if time.monotonic() - self._last_commit >= self._interval:
            self.flush()
        else:
            self._schedule()

    def _schedule(self) -> None:
        """Commit later from the running event loop, so rows never wait for the next put."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next put or close commits
        if self._timer is not None and self._timer_loop is loop:
            return
        delay = max(0.0, self._last_commit + self._interval - time.monotonic())
        self._timer, self._timer_loop = loop.call_later(delay, self.flush), loop

    def add_missing(self, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Write responses that are not cached yet (results resumed from a journal), now."""
        now = time.time()
        rows = [(k, json.dumps(r, ensure_ascii=False), now) for k, r in entries]
        if rows:
            self._write("INSERT OR IGNORE", rows)

    def flush(self) -> None:
        """Commit every pending write in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_loop = None
        self._last_commit = time.monotonic()
        if self._pending:
            rows, self._pending = self._pending, []
            self._write("INSERT OR REPLACE", rows)

    def _write(self, verb: str, rows: list[tuple[str, str, float]]) -> None:
        sql = f"{verb} INTO responses (key, response, created) VALUES (?, ?, ?)"
        for _ in range(2):  # once more into the fresh cache that replaced a damaged one
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(sql, rows)
                return
            except sqlite3.DatabaseError as exc:
                if not self._recover(exc):
                    return

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Commit pending writes and close; closing twice is harmless."""
        if not self._closed:
            self.flush()
            self._db.close()
            self._closed = True


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    return getattr(exc, "sqlite_errorname", "") not in _NOT_DAMAGE


_FIELDS = frozenset(("text", "prompt_tokens", "completion_tokens", "latency_ms", "finish_reason"))
_TIMED = _FIELDS | {"compute_s", "compute_device"}
_INT = {int, type(None)}  # type() is not isinstance(): True is no token count
_FLOAT = {float, int}
_STR = {str, type(None)}


def _valid_entry(raw: object) -> dict[str, Any] | None:
    """The response a row holds, or None when it is not one (bad JSON, wrong types)."""
    try:
        data = json.loads(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, RecursionError):
        return None
    if (
        type(data) is not dict
        or type(data.get("text")) is not str
        or type(data.get("prompt_tokens")) not in _INT
        or type(data.get("completion_tokens")) not in _INT
        or type(data.get("finish_reason")) not in _STR
    ):
        return None
    latency = data.get("latency_ms")
    compute = data.get("compute_s")
    seconds = math.nan
    if isinstance(compute, (int, float)) and not isinstance(compute, bool):
        seconds = float(compute)
    timed = 0 <= seconds < math.inf
    if type(latency) in _FLOAT and (
        data.keys() == _FIELDS
        or (data.keys() == _TIMED and timed and type(data["compute_device"]) in _STR)
    ):
        return data  # the usual row, as written: no copy on the fully cached path
    if latency is not None and type(latency) not in _FLOAT:
        return None
    device = data.get("compute_device")
    return response_entry(  # a malformed machine time is dropped: the answer still stands
        data["text"],
        data.get("prompt_tokens"),
        data.get("completion_tokens"),
        float(latency or 0.0),
        data.get("finish_reason"),
        compute_s=seconds if timed else None,
        compute_device=device if timed and type(device) in _STR else None,
    )
