"""The journal: finished results appended as they finish, so a killed run loses nothing.

One JSON line per result, written with a single ``os.write`` on an ``O_APPEND`` file: after
SIGKILL the operating system still holds every completed write, and a torn last line is
ignored on reading. Run files are user data that can also be truncated or edited, so every
line is checked field by field (:func:`parse_result`): a line that is not a whole, well-typed
result is skipped and counted, never an exception in ``show``, ``compare`` or ``--resume``.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results import CheckOutcome, Result

__all__ = ["Journal", "parse_result", "read_lines"]

_SIMPLE: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "None": (type(None),),
}
_Shape = dict[str, tuple[tuple[type, ...] | None, bool]]


def _shape(cls: type) -> _Shape:
    """Each field's allowed JSON types (None: checked apart) and whether it is required.

    Read from the dataclass itself, so a field added to Result or CheckOutcome is checked
    without touching this module.
    """
    shape: _Shape = {}
    for f in fields(cls):
        parts = str(f.type).replace(" ", "").split("|")
        allowed = (
            tuple(t for p in parts for t in _SIMPLE[p])
            if all(p in _SIMPLE for p in parts)
            else None
        )
        required = f.default is MISSING and f.default_factory is MISSING
        shape[f.name] = (allowed, required)
    return shape


_RESULT = _shape(Result)
_CHECK = _shape(CheckOutcome)


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
        """Finished results by (variant, case, repeat); later lines win, bad lines skipped."""
        return Journal.read_counted(path)[0]

    @staticmethod
    def read_counted(path: Path) -> tuple[dict[tuple[str, str, int], Result], int]:
        """As :meth:`read`, with how many non-blank lines could not be read."""
        results, skipped = read_lines(path)
        return {(r.variant, r.case, r.repeat): r for r in results}, skipped


def read_lines(path: Path) -> tuple[list[Result], int]:
    """Every readable result line of a JSONL file, and the count of unreadable ones."""
    found: list[Result] = []
    skipped = 0
    if not path.is_file():
        return found, skipped
    try:
        with path.open("rb") as f:
            for raw in f:
                if not raw.strip():
                    continue
                result = parse_result(raw)
                if result is None:
                    skipped += 1
                else:
                    found.append(result)
    except OSError as exc:
        raise HarnessError(f"cannot read {path}: {exc}") from exc
    return found, skipped


def parse_result(raw: bytes | str) -> Result | None:
    """The result one line holds, or None when it is torn, not JSON, or mistyped."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not _typed(data, _RESULT):
        return None
    shots = data.get("shots") or []
    checks = data.get("checks") or []
    if not isinstance(shots, list) or not all(isinstance(s, str) for s in shots):
        return None
    if not isinstance(checks, list) or not all(_valid_check(c) for c in checks):
        return None
    values = {k: v for k, v in data.items() if k in _RESULT}
    values["shots"] = tuple(shots)
    values["checks"] = tuple(
        CheckOutcome(**{k: v for k, v in c.items() if k in _CHECK}) for c in checks
    )
    return Result(**values)


def _typed(data: dict[str, Any], shape: _Shape) -> bool:
    for name, (allowed, required) in shape.items():
        if name not in data:
            if required:
                return False
            continue
        value = data[name]
        if allowed is None:
            continue
        if isinstance(value, bool) and bool not in allowed:
            return False  # bool is an int subclass: True is not a repeat index
        if not isinstance(value, allowed):
            return False
    return True


def _valid_check(check: Any) -> bool:
    return isinstance(check, dict) and _typed(check, _CHECK)


def _line(result: Result) -> bytes:
    return (json.dumps(result.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n").encode()
