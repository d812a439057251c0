"""Test cases and few-shot pool items, read from inline YAML or CSV/JSONL/JSON/YAML files.

Inline items and CSV fields stay strings exactly as written; JSONL and JSON keep their JSON
types. Every record remembers the file and line it came from, so later errors (a missing
field, a duplicate id, a template that fails on this case) point at it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import Location, Problem
from harness.experiment._yaml import Path_, YamlDocument, load_yaml_text, read_text

__all__ = ["DATA_SUFFIXES", "Case", "PoolItem", "RecordSet", "load_records"]

DATA_SUFFIXES = (".jsonl", ".csv", ".json", ".yaml", ".yml")


@dataclass(frozen=True)
class PoolItem:
    """One few-shot example: its fields are template variables when it is shown as a shot."""

    id: str
    vars: Mapping[str, Any]
    location: Location


@dataclass(frozen=True)
class Case:
    """One test case: its fields are template variables; ``asserts`` are its own checks."""

    id: str
    vars: Mapping[str, Any]
    location: Location
    asserts: tuple[Mapping[str, Any], ...] = ()


@dataclass
class RecordSet:
    """Records read from one source, with their problems."""

    records: list[tuple[dict[str, Any], Location]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def load_records(
    *,
    doc: YamlDocument,
    path: Path_,
    file: str | None,
    items: list[dict[str, Any]] | None,
    base_dir: Path,
) -> RecordSet:
    """Read the records a ``file:``/``items:`` section names, located for error messages."""
    out = RecordSet()
    if items is not None:
        for i, item in enumerate(items):
            out.records.append((item, doc.locate((*path, "items", i))))
        return out
    assert file is not None
    where = doc.locate((*path, "file"))
    try:
        source = (base_dir / file).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loops and the like
        out.problems.append(Problem(where, f"data file {file!r} cannot be resolved: {exc}"))
        return out
    display = display_path(source)
    suffix = source.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        out.problems.append(
            Problem(
                where,
                f"unsupported data file type {suffix or '(none)'!r} for {file!r}; "
                f"use one of {', '.join(DATA_SUFFIXES)}",
            )
        )
        return out
    text, problem = read_text(source, display)
    if problem is not None:
        message = f"cannot read data file {file!r}: {problem.message}"
        if problem.message == "file not found":
            message = f"data file not found: {file!r} (paths are relative to the experiment file)"
            out.problems.append(Problem(where, message))
        elif problem.location.line == 1 and problem.location.col == 1:  # could not be opened
            out.problems.append(Problem(where, message))
        else:  # inside the file (e.g. not UTF-8 at this byte)
            out.problems.append(Problem(problem.location, message))
        return out
    assert text is not None
    reader = {".jsonl": _jsonl, ".csv": _csv, ".json": _json}.get(suffix, _yaml)
    reader(text, display, out)
    if not out.records and not out.problems:
        out.problems.append(Problem(Location(display), "the data file holds no records"))
    return out


def display_path(path: Path) -> str:
    """A path as shown in messages: relative to the working directory when below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _add(out: RecordSet, value: Any, location: Location) -> None:
    if not isinstance(value, dict):
        kind = "list" if isinstance(value, list) else type(value).__name__
        out.problems.append(
            Problem(location, f"each record must be a mapping of fields, not a {kind}")
        )
        return
    for key in value:
        if not isinstance(key, str):
            out.problems.append(Problem(location, f"field names must be strings, not {key!r}"))
            return
    out.records.append((value, location))


def _jsonl(text: str, display: str, out: RecordSet) -> None:
    for number, line in enumerate(io.StringIO(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            col = getattr(exc, "colno", 1)
            out.problems.append(Problem(Location(display, number, col), _json_reason(exc)))
            continue
        _add(out, value, Location(display, number, 1))


def _json_reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg}"
    if isinstance(exc, RecursionError):
        return "invalid JSON: nesting is too deep"
    # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
    return f"invalid JSON: {' '.join(str(exc).split())[:160]}"


def _json(text: str, display: str, out: RecordSet) -> None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        line, col = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        out.problems.append(Problem(Location(display, line, col), _json_reason(exc)))
        return
    if not isinstance(value, list):
        out.problems.append(
            Problem(Location(display), "a JSON data file must hold a list of records")
        )
        return
    for i, item in enumerate(value):
        _add(out, item, Location(display, 1, 1) if i == 0 else Location(display))


def _csv(text: str, display: str, out: RecordSet) -> None:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return
        if len(set(header)) != len(header) or any(not h.strip() for h in header):
            out.problems.append(
                Problem(Location(display, 1, 1), "CSV header has empty or duplicate column names")
            )
            return
        start = reader.line_num + 1
        for row in reader:
            location = Location(display, start, 1)
            start = reader.line_num + 1
            if not row:
                continue
            if len(row) != len(header):
                out.problems.append(
                    Problem(
                        location, f"CSV row has {len(row)} fields but the header has {len(header)}"
                    )
                )
                continue
            out.records.append((dict(zip(header, row, strict=True)), location))
    except csv.Error as exc:
        out.problems.append(
            Problem(Location(display, reader.line_num or 1, 1), f"invalid CSV: {exc}")
        )


def _yaml(text: str, display: str, out: RecordSet) -> None:
    doc = load_yaml_text(text, display)
    out.problems.extend(doc.problems)
    if doc.data is None:
        return
    if not isinstance(doc.data, list):
        out.problems.append(Problem(doc.locate(()), "a YAML data file must hold a list of records"))
        return
    for i, item in enumerate(doc.data):
        _add(out, item, doc.locate((i,)))
