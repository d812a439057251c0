"""The local provider through the whole pipeline: batching, cache, identical outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness._run.pipeline import RunOptions, run_experiment
from harness.experiment import load_experiment
from tests.conftest import WriteFiles

pytestmark = pytest.mark.slow


def test_local_run_batches_and_caches(write: WriteFiles, tmp_path: Path) -> None:
    items = ", ".join(f'{{id: c{i}, input: "What is {i} plus {i}?"}}' for i in range(10))
    path = write(
        {
            "e.yaml": (
                "name: local\n"
                "params: {temperature: 0, max_tokens: 8}\n"
                'prompts: [{id: p, system: "Answer with a number.", user: "{{ input }}"}]\n'
                f"tests:\n  items: [{items}]\n"
            )
        }
    )
    exp = load_experiment(path)
    first = run_experiment(exp, RunOptions(home=tmp_path, progress=False))
    assert first.stats.requested == 10 and first.stats.errors == 0
    assert all(r.output and r.completion_tokens and r.completion_tokens <= 8 for r in first.results)
    second = run_experiment(exp, RunOptions(home=tmp_path, progress=False))
    assert second.stats.cached == 10 and second.stats.requested == 0
    assert [r.output for r in second.results] == [r.output for r in first.results]
    one_at_a_time = run_experiment(
        exp, RunOptions(home=tmp_path, progress=False, use_cache=False, concurrency=1)
    )
    assert [r.output for r in one_at_a_time.results] == [r.output for r in first.results]
