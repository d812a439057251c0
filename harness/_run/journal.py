"""The journal: finished results appended as they finish, so a killed run loses nothing.

One JSON line per result (:func:`harness.run_records.result_line`), written with a single
``os.write`` on an ``O_APPEND`` file: after SIGKILL the operating system still holds every
completed write, and a torn last line is ignored on reading
(:func:`harness.run_records.read_journal`).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.results import Result
from harness.run_records import result_line

__all__ = ["Journal"]


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, result: Result) -> None:
        os.write(self._fd, result_line(result))

    def append_many(self, results: list[Result]) -> None:
        """Many results in one write (cache hits are all known before any request)."""
        if results:
            os.write(self._fd, b"".join(result_line(r) for r in results))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
