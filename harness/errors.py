"""User-facing problems with a location, and the exception that carries them.

Every mistake in an experiment file is reported as ``FILE:LINE:COL: error: MESSAGE`` so
editors and CI logs can jump straight to it; the CLI turns :class:`ExperimentError` into
those lines and exit code 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["ExperimentError", "HarnessError", "Location", "Problem", "printable"]

# Control characters from a file (ESC, BEL, ...) must not reach the user's terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c not in (0x09, 0x0A)}


def printable(text: str) -> str:
    """``text`` with terminal control characters shown as ``\\xNN`` escapes."""
    return text.translate(_CONTROLS)


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based position in a file."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{printable(self.file)}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, where it is, and how bad it is."""

    location: Location
    message: str
    severity: Literal["error", "warning", "note"] = "error"

    def __str__(self) -> str:
        return f"{self.location}: {self.severity}: {printable(self.message)}"


class HarnessError(Exception):
    """A user error: shown as a message (exit code 2), never as a traceback."""

    exit_code = 2


class ExperimentError(HarnessError):
    """An experiment file (or one of its data/template files) is invalid."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "invalid experiment")
