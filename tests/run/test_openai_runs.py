"""Runs against a real OpenAI-compatible server through the real `openai` client."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness._run.pipeline import RunOptions, run_experiment
from harness.experiment import load_experiment
from tests.conftest import MakeExperiment
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"


def run(path: Path, home: Path, **options: object) -> object:
    opts = RunOptions(home=home, progress=False, **options)  # type: ignore[arg-type]
    return run_experiment(load_experiment(path), opts)


def test_round_trip_records_usage_and_cost(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path = make_experiment(5, model="openai:gpt-4o-mini")
    outcome = run(path, tmp_path / "home")
    assert [r.output for r in outcome.results] == [f"echo: question {i}" for i in range(5)]
    first = outcome.results[0]
    assert first.prompt_tokens and first.completion_tokens and first.latency_ms
    assert first.finish_reason == "stop"
    assert first.cost == pytest.approx(
        (first.prompt_tokens * 0.15 + first.completion_tokens * 0.6) / 1e6
    )
    assert server.count(path=CHAT) == 5


def test_cache_hit_never_reaches_the_server(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path = make_experiment(10)
    first = run(path, tmp_path / "home")
    server.reset_log()
    second = run(path, tmp_path / "home")
    assert server.count(path=CHAT) == 0
    assert second.stats.cached == 10
    assert [r.output for r in second.results] == [r.output for r in first.results]
    run(path, tmp_path / "home", use_cache=False)
    assert server.count(path=CHAT) == 10


def test_cache_never_stores_the_key(make_experiment: MakeExperiment, tmp_path: Path) -> None:
    run(make_experiment(3), tmp_path / "home")
    assert b"sk-test" not in (tmp_path / "home" / "cache.sqlite").read_bytes()


def test_twenty_percent_faults_complete_with_bounded_retries(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.set_fault_rate(0.2, kinds=["429", "500", "503", "malformed", "drop"], seed=3)
    outcome = run(make_experiment(60, timeout=5.0), tmp_path / "home", concurrency=8)
    assert outcome.aborted is None
    assert all(r.error is None for r in outcome.results), [r.error for r in outcome.results]
    assert [r.output for r in outcome.results] == [f"echo: question {i}" for i in range(60)]
    faults = sum(1 for r in server.requests if r.path == CHAT and r.fault)
    assert faults > 0 and outcome.stats.retries == faults
    assert server.count(path=CHAT) == 60 + faults <= 60 * 6


def test_hang_past_timeout_is_retried(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.hang_s = 3
    server.set_faults(["hang"])
    outcome = run(make_experiment(2, timeout=0.5), tmp_path / "home", concurrency=1)
    assert all(r.error is None for r in outcome.results)
    assert outcome.stats.retries == 1


def test_retry_after_is_honoured(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.retry_after_s = 0.6
    server.set_faults(["429"])
    outcome = run(make_experiment(1), tmp_path / "home")
    times = [r.time for r in server.requests if r.path == CHAT]
    assert len(times) == 2 and times[1] - times[0] >= 0.55
    assert outcome.results[0].error is None


def test_persistent_500_becomes_an_error_not_a_crash(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.set_faults(["500"] * 6)
    outcome = run(make_experiment(2), tmp_path / "home", concurrency=1)
    errors = [r for r in outcome.results if r.error]
    assert len(errors) == 1 and "HTTP 500" in (errors[0].error or "")
    assert "after 6 attempts" in (errors[0].error or "")
    assert outcome.aborted is None and outcome.stats.errors == 1


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        ("bad_key", "401"),
        ("quota", "insufficient_quota"),
        ("unknown_model", "404"),
    ],
)
def test_fatal_errors_abort_without_hammering(
    setup: str,
    expect: str,
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
) -> None:
    key = "sk-wrong" if setup == "bad_key" else "sk-test"
    if setup == "quota":
        server.set_fault_rate(1.0, kinds=["quota"])
    if setup == "unknown_model":
        server._known_models = {"only-this-one"}  # the server then 404s other models
    outcome = run(make_experiment(50, key=key), tmp_path / "home", concurrency=4)
    assert outcome.aborted is not None and expect in outcome.aborted
    assert server.count(path=CHAT) <= 4  # only what was already in flight
    assert outcome.run.meta()["status"] == "aborted"


def test_max_cost_stops_cleanly_and_keeps_results(
    make_experiment: MakeExperiment, tmp_path: Path
) -> None:
    extra = ""
    path = make_experiment(40, model="openai:gpt-4o", extra=extra)
    # each request is estimated at ~(10 prompt + 8 completion tokens) -> about $0.0001
    outcome = run(path, tmp_path / "home", concurrency=1, max_cost=0.0008)
    assert outcome.aborted is not None and "budget" in outcome.aborted
    assert 0 < len(outcome.results) < 40
    assert outcome.stats.cost <= 0.0008
    # The run keeps its budget across resumes; a larger one lets it finish.
    resumed = run(path, tmp_path / "home", concurrency=4, resume=True, max_cost=1.0)
    assert resumed.stats.resumed == len(outcome.results)
    assert len(resumed.results) == 40


def test_judge_check_grades_with_a_named_model_and_keeps_reasoning(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    def respond(body: dict) -> str:
        content = body["messages"][-1]["content"]
        if content.startswith("Rubric:"):
            verdict = "FAIL" if "question 1\n" in content else "PASS"
            return f"The response repeats the question.\nVERDICT: {verdict}"
        return "echo: " + content

    server.responder = respond
    extra = "  assert:\n    - judge: {rubric: Repeats the question, model: openai:echo-1}\n"
    outcome = run(make_experiment(3, extra=extra), tmp_path / "home")
    verdicts = {r.case: r.passed for r in outcome.results}
    assert verdicts == {"c0": True, "c1": False, "c2": True}
    reason = outcome.results[1].checks[0].reason
    assert reason.startswith("judge: The response repeats the question.")
