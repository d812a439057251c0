"""Collecting located problems while a file is checked.

Loading (``load.py``) and the cross-field rules (``rules.py``) both report into one
collector, so this small class sits below both and neither imports the other's internals.
"""

from __future__ import annotations

from harness.errors import Location, Problem
from harness.experiment._yaml import YamlDocument

__all__ = ["ProblemCollector"]


class ProblemCollector:
    """Problems found in one YAML document, each at the line of the key it concerns."""

    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def error(self, location: Location, message: str) -> None:
        self.problems.append(Problem(location, message))

    def warn(self, location: Location, message: str) -> None:
        self.problems.append(Problem(location, message, "warning"))

    def at(self, *path: str | int, key: bool = False) -> Location:
        """Where the value (or with ``key``, the key) at ``path`` is written."""
        return self.doc.locate(path, key=key)
