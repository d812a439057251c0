"""Batch API input files: chat requests as JSONL lines, split at the service's limits.

Each line is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``.
The ``custom_id`` is the request's cache key, so an output line maps back to exactly the
requests it answers whatever order the output file comes in, and identical requests (the
same key) are written once. Files are written as the lines arrive (one line in memory at
a time) and a new file starts before one would pass ``max_requests`` lines or
``max_bytes`` bytes: OpenAI takes at most 50,000 requests and 200 MB per file, other
servers differ, so both are settings. Bodies hold the model, messages and parameters,
never the API key, which only ever travels in a request header.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BatchFile", "BatchLimits", "batch_line", "write_batch_files"]

URL = "/v1/chat/completions"


@dataclass(frozen=True)
class BatchLimits:
    """The most requests and bytes one input file may hold."""

    max_requests: int = 50_000
    max_bytes: int = 200 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.max_bytes < 1:
            raise ValueError("batch limits must be positive")


@dataclass(frozen=True)
class BatchFile:
    """One written input file: where, how many requests, how many bytes."""

    path: Path
    requests: int
    bytes: int


def batch_line(custom_id: str, body: Mapping[str, Any]) -> bytes:
    """One input line (JSON, newline-terminated)."""
    line = {"custom_id": custom_id, "method": "POST", "url": URL, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class _Writer:
    def __init__(self, folder: Path, stem: str, limits: BatchLimits) -> None:
        self.folder, self.stem, self.limits = folder, stem, limits
        self.files: list[BatchFile] = []
        self._handle: Any = None
        self._path: Path | None = None
        self._requests = 0
        self._bytes = 0

    def add(self, line: bytes) -> None:
        if len(line) > self.limits.max_bytes:
            raise ValueError(
                f"one request is {len(line):,} bytes, over the {self.limits.max_bytes:,}-byte "
                "limit of a batch file"
            )
        full = (
            self._requests >= self.limits.max_requests
            or self._bytes + len(line) > self.limits.max_bytes
        )
        if self._handle is None or full:
            self._open()
        self._handle.write(line)
        self._requests += 1
        self._bytes += len(line)

    def _open(self) -> None:
        self.close()
        self._path = self.folder / f"{self.stem}-{len(self.files) + 1:03d}.jsonl"
        self._handle = self._path.open("wb")
        self._requests = self._bytes = 0

    def close(self) -> None:
        if self._handle is None or self._path is None:
            return
        self._handle.close()
        self.files.append(BatchFile(self._path, self._requests, self._bytes))
        self._handle = None


def write_batch_files(
    requests: Iterable[tuple[str, Mapping[str, Any]]],
    folder: Path,
    stem: str,
    limits: BatchLimits | None = None,
) -> list[BatchFile]:
    """Write ``(custom_id, body)`` pairs as input files ``folder/STEM-001.jsonl``, ...;
    a ``custom_id`` seen before is skipped (the same request is asked once)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = _Writer(folder, stem, limits or BatchLimits())
    seen: set[str] = set()
    try:
        for custom_id, body in requests:
            if custom_id in seen:
                continue
            seen.add(custom_id)
            writer.add(batch_line(custom_id, body))
    finally:
        writer.close()
    return writer.files
