"""Fixtures for runner tests: a real OpenAI-compatible server and experiments that use it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.openai_server import FakeOpenAIServer

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
