"""Load an experiment file into typed records, reporting every problem with its location.

``validate_experiment`` never raises for bad input: it collects all problems (schema,
files, data lines, templates, cross-field rules, every template rendered against every
case) so one run of ``harness validate`` shows everything to fix. ``load_experiment``
raises :class:`ExperimentError` when there is any error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import ExperimentError, Problem
from harness.experiment._checker import ExperimentChecker
from harness.experiment._experiment import Experiment
from harness.experiment._yaml import load_yaml_text, read_text
from harness.experiment.data import display_path
from harness.experiment.messages import Prompt
from harness.experiment.trust import Trust, project_root

__all__ = [
    "Experiment",
    "Prompt",
    "Validation",
    "find_experiment_files",
    "load_experiment",
    "validate_experiment",
]


@dataclass
class Validation:
    """The outcome of validating one experiment file."""

    display: str
    problems: list[Problem]
    experiment: Experiment | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def load_experiment(
    path: str | Path, *, allow_python: bool = False, trust: Trust | None = None
) -> Experiment:
    """Load and fully validate ``path``; raise :class:`ExperimentError` on any error.

    ``trust`` is what the user allows beyond the safe default (see
    :mod:`harness.experiment.trust`); ``allow_python`` is shorthand for ``Trust(python=True)``.
    """
    result = validate_experiment(path, allow_python=allow_python, trust=trust)
    if result.experiment is None or result.errors:
        raise ExperimentError(result.problems)
    return result.experiment


def validate_experiment(
    path: str | Path, *, allow_python: bool = False, trust: Trust | None = None
) -> Validation:
    """Check everything about an experiment file and return all problems found."""
    trust = trust or Trust()
    if allow_python and not trust.python:
        trust = replace(trust, python=True)
    source = Path(path)
    display = display_path(source.resolve()) if source.exists() else str(source)
    text, problem = read_text(source, display)
    if problem is not None:
        return Validation(display, [problem])
    assert text is not None
    doc = load_yaml_text(text, display)
    problems = list(doc.problems)
    if doc.data is None:
        if not problems:
            problems.append(Problem(doc.locate(()), "the file holds no experiment (it is null)"))
        return Validation(display, problems)
    if not isinstance(doc.data, dict):
        message = "an experiment file must be a mapping with keys such as name, prompts, tests"
        return Validation(display, [*problems, Problem(doc.locate(()), message)])
    checker = ExperimentChecker(doc, source.resolve().parent, trust, project_root(source))
    experiment = checker.run()
    problems.extend(checker.problems)
    has_errors = any(p.severity == "error" for p in problems)
    return Validation(display, _sorted(problems), None if has_errors else experiment)


def find_experiment_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, plus YAML files under folders that look like experiments."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            found.append(p)
            continue
        for candidate in sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]):
            if looks_like_experiment(candidate):
                found.append(candidate)
    return found


_EXPERIMENT_KEYS = re.compile(r"^(prompts|tests)\s*:", re.MULTILINE)


def looks_like_experiment(path: Path) -> bool:
    """A cheap shape test: a YAML file with top-level ``prompts:`` or ``tests:`` keys."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return False
    return bool(_EXPERIMENT_KEYS.search(head))


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.location.file, p.location.line, p.location.col))
