"""The response cache: SQLite in WAL mode under the harness home, shared by every run.

Keys hash everything that determines an answer (provider, model, base URL, messages,
params, repeat index) and nothing secret. Lookups are done in bulk before a run starts,
and writes are batched, so a fully cached re-run does not pay one query per result.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["ResponseCache", "request_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
"""


def request_key(
    identity: Mapping[str, Any], messages: Any, params: Mapping[str, Any], repeat: int
) -> str:
    """A stable hash of everything that determines a model's answer."""
    blob = json.dumps(
        [identity, messages, params, repeat],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Cached responses keyed by :func:`request_key`; ``flush()`` commits pending writes."""

    def __init__(self, path: Path, *, batch: int = 256) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._pending: list[tuple[str, str, float]] = []
        self._batch = batch

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached responses among ``keys``."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk
            )
            for key, response in rows:
                found[key] = json.loads(response)
        return found

    def put(self, key: str, response: Mapping[str, Any]) -> None:
        self._pending.append((key, json.dumps(response, ensure_ascii=False), time.time()))
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO responses (key, response, created) VALUES (?, ?, ?)", rows
            )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self.flush()
        self._db.close()
