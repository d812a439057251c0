"""Shared fixtures: writing small experiment files into a temporary folder."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.openai_server import FakeOpenAIServer

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


MakeExperiment = Callable[..., Path]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(retry_after_s=0.05, api_key="sk-test") as srv:
        yield srv


@pytest.fixture
def make_experiment(tmp_path: Path, server: FakeOpenAIServer) -> MakeExperiment:
    """An experiment of ``cases`` echo cases against the test server."""

    def _make(
        cases: int = 20,
        *,
        model: str = "openai:echo-1",
        extra: str = "",
        name: str = "exp.yaml",
        key: str = "sk-test",
        timeout: float = 2.0,
    ) -> Path:
        rows = [
            {"id": f"c{i}", "input": f"question {i}", "expected": f"echo: question {i}"}
            for i in range(cases)
        ]
        (tmp_path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        path = tmp_path / name
        path.write_text(
            f"name: echo\nmodels:\n  - id: {model}\n    base_url: {server.base_url}\n"
            f"    api_key: {key}\n    timeout: {timeout}\n"
            "params: {temperature: 0, max_tokens: 8}\n"
            'prompts:\n  - id: p\n    user: "{{ input }}"\n'
            f"tests:\n  file: cases.jsonl\n{extra}"
        )
        return path

    return _make


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the ``harness`` command in-process: (exit code, stdout, stderr)."""
    from harness._cli.main import main

    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err
