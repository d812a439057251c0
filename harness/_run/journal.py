"""The journal: finished results appended as they finish, so a killed run loses nothing.

One JSON line per result, written with a single ``os.write`` on an ``O_APPEND`` file: after
SIGKILL the operating system still holds every completed write, and a torn last line (the
only possible damage) is ignored on reading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.results import Result

__all__ = ["Journal"]


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, result: Result) -> None:
        os.write(self._fd, _line(result))

    def append_many(self, results: list[Result]) -> None:
        """Many results in one write (cache hits are all known before any request)."""
        if results:
            os.write(self._fd, b"".join(_line(r) for r in results))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @staticmethod
    def read(path: Path) -> dict[tuple[str, str, int], Result]:
        """Finished results by (variant, case, repeat); later lines win, torn lines skipped."""
        found: dict[tuple[str, str, int], Result] = {}
        if not path.exists():
            return found
        with path.open("rb") as f:
            for raw in f:
                try:
                    result = Result.from_dict(json.loads(raw))
                except (ValueError, TypeError):
                    continue
                found[(result.variant, result.case, result.repeat)] = result
        return found


def _line(result: Result) -> bytes:
    return (json.dumps(result.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n").encode()
