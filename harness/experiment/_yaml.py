"""YAML loading that keeps every value as written and remembers where it was written.

PyYAML's constructors follow YAML 1.1: an unquoted ``2019-10-24`` becomes a date, ``no``
becomes False and ``1.10`` becomes 1.1. Test data must reach templates and checks exactly
as people typed it, so we stop at the node graph (``yaml.compose``) and build plain
Python values ourselves: every scalar is a ``str`` (only an explicit null is ``None``);
the schema coerces strings where it wants numbers. Every value's line and column are kept
so errors can point at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import Location, Problem

__all__ = ["Path_", "YamlDocument", "load_yaml_text", "read_text"]

Path_ = tuple[str | int, ...]
"""A path into a document: mapping keys and sequence indexes."""

_NULL_TAG = "tag:yaml.org,2002:null"
_MAX_NODES = 2_000_000  # values in one document
# Values reached again through an alias: a few are normal (`<<: *defaults`), a flood is an
# expansion bomb ("billion laughs") that would take gigabytes from a small file.
_MAX_ALIASED = 50_000

try:  # libyaml's composer is several times faster; fall back to pure Python.
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader


@dataclass
class YamlDocument:
    """Plain data from a YAML file, plus the position of every key and value."""

    file: str
    data: Any = None
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    styles: dict[Path_, str | None] = field(default_factory=dict)

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        """The position of ``path``, or of its nearest ancestor that exists."""
        if key and path in self.keys:
            return Location(self.file, *self.keys[path])
        for end in range(len(path), -1, -1):
            pos = self.values.get(path[:end])
            if pos is not None:
                return Location(self.file, *pos)
        return Location(self.file, 1, 1)

    def value_style(self, path: Path_) -> str | None:
        """The scalar style at ``path``: None (plain), quote characters, '|' or '>'."""
        return self.styles.get(path)


def read_text(path: Path, display: str) -> tuple[str | None, Problem | None]:
    """Read a UTF-8 text file, turning OS and decoding errors into a located problem."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        return None, Problem(Location(display), "is a directory, not a file")
    except FileNotFoundError:
        return None, Problem(Location(display), "file not found")
    except OSError as exc:
        return None, Problem(Location(display), f"cannot read file: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Problem(
            Location(display, line, col), "not valid UTF-8 text (is this a binary file?)"
        )


def load_yaml_text(text: str, display: str) -> YamlDocument:
    """Parse one YAML document into a :class:`YamlDocument`; problems are collected."""
    doc = YamlDocument(display)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display)
        reason = exc.problem or exc.context or "invalid YAML"
        doc.problems.append(Problem(where, f"invalid YAML: {reason}"))
        return doc
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        line, col = _reader_position(text, exc)
        doc.problems.append(Problem(Location(display, line, col), f"invalid YAML: {_short(exc)}"))
        return doc
    except RecursionError:
        doc.problems.append(Problem(Location(display), "invalid YAML: nesting is too deep"))
        return doc
    if node is None:
        doc.problems.append(Problem(Location(display), "the file is empty"))
        return doc
    builder = _Builder(doc)
    try:
        doc.data = builder.build(node, ())
    except RecursionError:
        doc.data = None
        doc.problems.append(Problem(Location(display), "invalid YAML: nesting is too deep"))
    except _TooLarge as exc:
        doc.data = None
        doc.problems.append(Problem(exc.location, str(exc)))
    return doc


# Private control flow, outside the HarnessError family on purpose: it unwinds the builder
# and load_yaml_text turns it into a Problem at its location; it never reaches a caller.
class _TooLarge(Exception):
    def __init__(self, location: Location, message: str) -> None:
        super().__init__(message)
        self.location = location


class _Builder:
    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.count = 0
        self.aliased = 0
        self.seen: set[int] = set()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        pos = (node.start_mark.line + 1, node.start_mark.column + 1)
        if id(node) in self.seen:
            self.aliased += 1
            if self.aliased > _MAX_ALIASED:
                raise _TooLarge(
                    Location(self.doc.file, *pos),
                    f"aliases expand to more than {_MAX_ALIASED:,} values "
                    "(an alias expansion bomb?)",
                )
        else:
            self.seen.add(id(node))
        if self.count > _MAX_NODES:
            raise _TooLarge(
                Location(self.doc.file, *pos), f"document holds more than {_MAX_NODES:,} values"
            )
        self.doc.values.setdefault(path, pos)
        if isinstance(node, yaml.ScalarNode):
            style = node.style or None  # libyaml reports plain scalars as ''
            self.doc.styles.setdefault(path, style)
            if node.tag == _NULL_TAG and style is None:
                return None
            return str(node.value)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_pos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, yaml.ScalarNode):
                self.doc.problems.append(
                    Problem(Location(self.doc.file, *key_pos), "mapping keys must be plain strings")
                )
                continue
            key = str(key_node.value)
            if key in out:
                first = self.doc.keys.get((*path, key), key_pos)
                self.doc.problems.append(
                    Problem(
                        Location(self.doc.file, *key_pos),
                        f"duplicate key '{key}' (first defined on line {first[0]})",
                    )
                )
                continue
            self.doc.keys[(*path, key)] = key_pos
            out[key] = self.build(value_node, (*path, key))
        return out


def _reader_position(text: str, exc: yaml.YAMLError) -> tuple[int, int]:
    position = getattr(exc, "position", None)
    if not isinstance(position, int):
        return 1, 1
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200]
