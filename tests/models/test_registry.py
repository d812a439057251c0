"""Providers plug in through an entry-point group; a new one is a short class."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from harness._run.pipeline import RunOptions, run_experiment
from harness.errors import HarnessError
from harness.experiment import load_experiment
from harness.models import ENTRY_POINT_GROUP, ModelRequest, ModelResponse, Provider, registry
from harness.models.base import ModelRef
from tests.conftest import WriteFiles


class ShoutProvider(Provider):
    """A whole provider: upper-cases the last user message."""

    async def complete(self, request: ModelRequest) -> ModelResponse:
        text = request.messages[-1]["content"].upper()
        return ModelResponse(text, prompt_tokens=1, completion_tokens=1, latency_ms=0.1)


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint("shout", f"{__name__}:ShoutProvider", ENTRY_POINT_GROUP)

    def fake(group: str) -> list[EntryPoint]:
        return [point] if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", fake)


def test_plugin_provider_runs_an_experiment(plugin: Any, write: WriteFiles, tmp_path: Path) -> None:
    path = write(
        {
            "e.yaml": """
        name: shout
        models: [shout:any]
        prompts: [{id: p, user: "{{ input }}"}]
        tests:
          items: [{input: hello, expected: HELLO}]
          assert: [{equals: "{{ expected }}"}]
        """
        }
    )
    outcome = run_experiment(load_experiment(path), RunOptions(home=tmp_path, progress=False))
    assert outcome.results[0].output == "HELLO" and outcome.results[0].passed
    assert "shout" in registry.provider_names()


def test_unknown_provider_is_a_clear_error() -> None:
    with pytest.raises(HarnessError, match="unknown model provider 'nope'"):
        registry.create_provider(ModelRef.parse("nope:x"))
