"""Result records on disk: one JSON line per result, written and read here only.

A run keeps its results as JSON lines twice: the journal, appended as results finish (see
``harness._run.journal``), and ``results.jsonl``, written once the run finished. Both are
encoded by :func:`result_line` and read by :func:`read_results`. Run files are user data that
can be truncated or edited, so every line is checked field by field (:func:`parse_result`): a
line that is not a whole, well-typed result is skipped and counted, never an exception in
``show``, ``compare`` or ``--resume``.

``run.json`` carries the record format's version (:data:`RECORD_VERSION`); a run written
before versions were recorded is version 1, and one written by a newer harness is refused
with a clear message rather than misread (:func:`record_version`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results import CheckOutcome, Result

__all__ = [
    "RECORD_VERSION",
    "ResultKey",
    "parse_result",
    "read_journal",
    "read_results",
    "record_version",
    "result_line",
    "write_results",
]

#: The newest record format this harness writes and reads.
RECORD_VERSION = 1

#: A result's place in a run: (variant, case, repeat).
ResultKey = tuple[str, str, int]

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


def record_version(meta: Mapping[str, Any], run_id: str) -> int:
    """The record format of a run from its ``run.json``; HarnessError when it cannot be read.

    A run without ``schema_version`` predates it and is version 1.
    """
    version = meta.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise HarnessError(f"run {run_id} has an unknown record format {version!r} in run.json")
    if version > RECORD_VERSION:
        raise HarnessError(
            f"run {run_id} uses record format {version}; this harness reads up to "
            f"{RECORD_VERSION}: upgrade harness"
        )
    return version


def result_line(result: Result) -> bytes:
    """One result as a JSON line (UTF-8, newline included)."""
    text = json.dumps(result.to_dict(), ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode()


def write_results(path: Path, results: Iterable[Result]) -> None:
    """Write ``results`` as JSON lines, replacing ``path`` atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        for result in results:
            f.write(result_line(result))
    os.replace(tmp, path)


def read_journal(path: Path) -> tuple[dict[ResultKey, Result], int]:
    """Results by (variant, case, repeat), later lines winning, and the unreadable count."""
    results, skipped = read_results(path)
    return {(r.variant, r.case, r.repeat): r for r in results}, skipped


def read_results(path: Path) -> tuple[list[Result], int]:
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
