"""What every importer produces: an experiment, its data files, and what was not carried over.

An importer reads a suite written for another tool and returns an :class:`ImportedSuite`:
the experiment as plain data, the data files it needs, a header saying where it came from,
and one located problem per thing that could not be carried over (``warning``) or that
makes the source itself invalid (``error``). :func:`write_suite` writes it as
``DIR/NAME.yaml`` beside its data; the result passes ``harness validate`` unchanged.

Sources may come from strangers: an importer reads only files inside the source's own
folder (the registry, the config's folder) unless the user allows more, as experiments do.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ExperimentError, HarnessError, Location, Problem
from harness.experiment._yaml import YamlDocument, load_yaml_text, read_text

__all__ = ["ImportedSuite", "inside", "jsonl", "located", "read_yaml", "slug", "write_suite"]

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(text: str, fallback: str = "imported") -> str:
    """A name usable as a file name and an experiment name."""
    return _SLUG.sub("-", text).strip("-.")[:80] or fallback


def read_yaml(path: Path, *, mapping: str | None = None) -> YamlDocument:
    """A source YAML file with positions; ExperimentError when it cannot be read or parsed,
    or (with ``mapping``, the message) when it is not a mapping."""
    display = str(path)
    text, problem = read_text(path, display)
    if problem is not None:
        raise ExperimentError([problem])
    assert text is not None
    doc = load_yaml_text(text, display)
    if doc.problems:
        raise ExperimentError(doc.problems)
    if mapping is not None and not isinstance(doc.data, dict):
        raise ExperimentError([Problem(Location(display, 1, 1), mapping)])
    return doc


def jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def inside(base: Path, name: str, root: Path, where: Location) -> Path:
    """``name`` resolved against ``base``; an ExperimentError when it leaves ``root``."""
    try:
        path = (base / name).resolve()
        top = root.resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise ExperimentError([Problem(where, f"{name!r} cannot be resolved: {exc}")]) from None
    if path != top and top not in path.parents:
        raise ExperimentError(
            [Problem(where, f"{name!r} is outside {top}; an imported suite may not read it")]
        )
    return path


@dataclass
class ImportedSuite:
    """An experiment translated from another tool, ready to write."""

    name: str
    source: str
    spec: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    #: YAML lines written commented out after a top-level key: alternatives to try.
    suggestions: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    imported: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def warn(self, where: Location, message: str, what: str | None = None) -> None:
        """Something not carried over (``what``: the kind counted as not imported)."""
        self.problems.append(Problem(where, message, "warning"))
        if what:
            self.skipped[what] += 1

    def summary(self) -> str:
        kinds = sorted(set(self.imported) | set(self.skipped))
        parts = [
            f"{self.imported[k]} {k}"
            + (f" ({self.skipped[k]} not imported)" if self.skipped[k] else "")
            for k in kinds
        ]
        return f"imported {self.name} from {self.source}: " + ", ".join(parts)


def _yaml_text(suite: ImportedSuite) -> str:
    body = yaml.safe_dump(suite.spec, sort_keys=False, allow_unicode=True, width=100)
    lines = body.splitlines()
    for key, extra in suite.suggestions.items():
        start = next((i for i, ln in enumerate(lines) if ln.startswith(f"{key}:")), None)
        if start is None:
            continue
        end = start + 1
        while end < len(lines) and lines[end].startswith(("- ", "  ")):
            end += 1
        lines[end:end] = [f"# {ln}" if ln else "#" for ln in extra]
    warnings = [p for p in suite.problems if p.severity == "warning"]
    head = [f"# {ln}" if ln else "#" for ln in suite.header]
    if warnings:
        head += ["#", f"# Not imported ({len(warnings)}):"]
        head += [f"#   {p.location}: {p.message}" for p in warnings]
    else:
        head += ["#", "# Everything was imported."]
    return "\n".join([*head, "", *lines]) + "\n"


def write_suite(suite: ImportedSuite, out_dir: Path) -> Path:
    """Write ``OUT_DIR/NAME.yaml`` and its data files; the experiment's path."""
    errors = [p for p in suite.problems if p.severity == "error"]
    if errors:
        raise ExperimentError(suite.problems)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in suite.files.items():
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
        path = out_dir / f"{suite.name}.yaml"
        path.write_text(_yaml_text(suite), "utf-8")
    except OSError as exc:
        raise HarnessError(f"cannot write the imported suite into {out_dir}: {exc}") from exc
    return path


def located(problems: Sequence[Problem]) -> list[str]:
    """The problems as ``FILE:LINE:COL: severity: message`` lines."""
    return [str(p) for p in problems]
