"""Shared fixtures: writing small experiment files into a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "experiments"

WriteFiles = Callable[[dict[str, str]], Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFiles:
    """write({"exp.yaml": text, "data/pool.jsonl": text}) -> path of the first file."""

    def _write(files: dict[str, str]) -> Path:
        first = None
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
            first = first or path
        assert first is not None
        return first

    return _write
