"""Batch mode end to end: the real ``openai`` client against the test server's Batch API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import run
from harness._run.batch import BatchesSubmitted, load_entries
from harness.runs import list_runs
from tests.openai_server import FakeOpenAIServer
from tests.openai_server.chat import last_user_text
from tests.openai_server.wire import ApiError

CHAT = "/v1/chat/completions"
KEY = "sk-batch-secret-123"


def _responder(body: dict[str, Any]) -> str:
    question = last_user_text(body["messages"])
    if question == "question 3":
        raise ApiError(400, "This request was flagged.", code="flagged")
    return f"echo: {question}"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=KEY, responder=_responder, seed=3) as srv:
        yield srv


def _experiment(tmp_path: Path, server: FakeOpenAIServer, cases: int, extra: str = "") -> Path:
    rows = [
        {"id": f"c{i:04d}", "input": f"question {i}", "expected": f"echo: question {i}"}
        for i in range(cases)
    ]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"name: batchy\nmodels:\n  - id: openai:gpt-4o-mini\n    base_url: {server.base_url}\n"
        f"    api_key: {KEY}\n    batch_poll_seconds: 0.01\n{extra}"
        "params: {temperature: 0, max_tokens: 8}\n"
        'prompts:\n  - {id: p, user: "{{ input }}"}\n'
        'tests:\n  file: cases.jsonl\n  assert: [{equals: "{{ expected }}"}]\n'
    )
    return path


def test_a_batch_run_gives_the_direct_run_s_answers_at_half_the_price(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = _experiment(tmp_path, server, 20)
    batched = run(path, home=tmp_path / "b", batch=True, progress=False)
    assert server.count(path=CHAT) == 0 and len(server.batches) == 1
    assert batched.stats.batched == 20
    direct = run(path, home=tmp_path / "d", progress=False)
    assert server.count(path=CHAT) == 20
    assert [r.output for r in batched.results] == [r.output for r in direct.results]
    assert batched.best.pass_rate == direct.best.pass_rate == 19 / 19
    flagged = next(r for r in batched.results if r.case == "c0003")
    assert flagged.error and "status 400" in flagged.error and "flagged" in flagged.error
    assert batched.stats.cost == pytest.approx(direct.stats.cost / 2)
    assert json.loads((batched.run_dir / "run.json").read_text())["batch"] == ["openai:gpt-4o-mini"]
    html = batched.report_html.read_text() if batched.report_html else ""
    assert "batch mode" in html and "Batch API, batch price" in html
    for file in batched.run_dir.rglob("*"):
        if file.is_file():
            assert KEY.encode() not in file.read_bytes(), file


def test_three_thousand_requests_split_into_files_and_cached_ones_not_sent(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = _experiment(tmp_path, server, 3000, extra="    batch_max_requests: 1000\n")
    home = tmp_path / "home"
    (tmp_path / "first").mkdir()
    small = _experiment(tmp_path / "first", server, 500)
    run(small, home=home, progress=False)  # the first 500 asked directly: 499 now cached
    result = run(path, home=home, batch=True, progress=False)
    entries = load_entries(result.run_dir)
    assert [e.requests for e in entries] == [1000, 1000, 501]  # the refused one is asked again
    assert result.stats.cached == 499 and result.stats.batched == 2501
    assert len([r for r in result.results if r.error is None]) == 2999


def test_no_wait_then_resume_collects_without_submitting_again(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = _experiment(tmp_path, server, 30)
    home = tmp_path / "home"
    with pytest.raises(BatchesSubmitted, match="harness batch collect"):
        run(path, home=home, batch=True, wait=False, progress=False)
    (waiting,) = list_runs(home)
    assert waiting.meta()["status"] == "waiting"
    assert [e.batch_id for e in load_entries(waiting.path)] == list(server.batches)
    result = run(path, home=home, batch=True, resume=True, progress=False)
    assert result.resumed_from == waiting.id and len(server.batches) == 1
    assert sum(r.error is None for r in result.results) == 29


def test_an_expired_batch_is_completed_with_direct_requests(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    server.batch_outcomes = ["expired"]
    path = _experiment(tmp_path, server, 40)
    home = tmp_path / "home"
    first = run(path, home=home, batch=True, progress=False)
    unanswered = [r for r in first.results if r.error and "--direct-remainder" in r.error]
    assert len(unanswered) == 20 and "expired" in unanswered[0].error
    assert first.exit_code == 3 and first.aborted and "--direct-remainder" in first.aborted
    second = run(path, home=home, batch=True, resume=True, direct_remainder=True, progress=False)
    assert server.count(path=CHAT) == 20  # the remainder, and only it, asked directly
    assert len(server.batches) == 1  # nothing resubmitted
    assert sum(r.error is None for r in second.results) == 39


def test_an_expired_batch_is_completed_by_a_new_batch(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    server.batch_outcomes = ["expired"]
    path = _experiment(tmp_path, server, 10)
    result = run(path, home=tmp_path / "home", batch=True, resubmit=True, progress=False)
    assert len(server.batches) == 2 and server.count(path=CHAT) == 0
    entries = load_entries(result.run_dir)
    assert [e.requests for e in entries] == [10, 5] and entries[0].status == "expired"
    assert sum(r.error is None for r in result.results) == 9


def test_the_cli_submits_without_waiting_shows_status_and_collects(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import run_cli

    path = _experiment(tmp_path, server, 12)
    home = ["--home", str(tmp_path / "home")]
    code, out, _ = run_cli(["run", str(path), "--batch", "--no-wait", *home], capsys)
    assert code == 0 and "submitted 12 request(s) in 1 batch(es)" in out
    run_id = out.split("for run ")[1].split(";")[0]
    code, out, _ = run_cli(["batch", "status", run_id, *home], capsys)
    assert code == 0 and "in_progress" in out and "openai:gpt-4o-mini" in out
    code, out, _ = run_cli(["batch", "collect", run_id, *home], capsys)
    assert code == 0 and "p/k0/openai:gpt-4o-mini" in out and len(server.batches) == 1
    code, _, err = run_cli(["batch", "collect", run_id, *home], capsys)
    assert code == 2 and "is finished" in err


def test_cancel_keeps_what_was_answered(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import run_cli

    path = _experiment(tmp_path, server, 10)
    home = ["--home", str(tmp_path / "home")]
    code, out, _ = run_cli(["run", str(path), "--batch", "--no-wait", *home], capsys)
    run_id = out.split("for run ")[1].split(";")[0]
    code, out, _ = run_cli(["batch", "cancel", run_id, *home], capsys)
    assert code == 0 and "cancelled" in out
    code, out, _ = run_cli(["batch", "collect", run_id, "--direct-remainder", *home], capsys)
    assert code == 0 and server.count(path=CHAT) == 5  # half answered before the cancel


@pytest.mark.slow
def test_killed_after_submitting_then_resumed_submits_nothing_again(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    path = _experiment(tmp_path, server, 25)
    path.write_text(path.read_text().replace("batch_poll_seconds: 0.01", "batch_poll_seconds: 60"))
    home = tmp_path / "home"
    command = [sys.executable, "-m", "harness", "run", str(path), "--batch", "--home", str(home)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not server.batches:
        time.sleep(0.05)
    time.sleep(0.3)  # past the first status check: the process now sleeps between polls
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert len(server.batches) == 1
    (killed,) = list_runs(home)
    assert [e.batch_id for e in load_entries(killed.path)] == list(server.batches)
    path.write_text(path.read_text().replace("batch_poll_seconds: 60", "batch_poll_seconds: 0.01"))
    result = run(path, home=home, batch=True, resume=True, progress=False)
    assert result.resumed_from == killed.id
    assert len(server.batches) == 1 and server.count(path=CHAT) == 0
    assert sum(r.error is None for r in result.results) == 24


def test_models_without_batch_run_directly_in_the_same_run_and_dry_run_prices_the_batch(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness import estimate
    from tests.conftest import run_cli

    path = _experiment(tmp_path, server, 8, extra="    batch: true\n")
    text = path.read_text().replace(
        "params:",
        f"  - id: openai:gpt-4o\n    base_url: {server.base_url}\n    api_key: {KEY}\nparams:",
        1,
    )
    path.write_text(text)
    result = run(path, home=tmp_path / "home", progress=False)
    assert len(server.batches) == 1 and server.count(path=CHAT) == 8  # gpt-4o directly
    assert result.stats.batched == 8
    batched = estimate(path).variants[0]
    assert batched.variant.endswith("gpt-4o-mini")
    full = estimate(path.with_name("exp.yaml"), batch=False)
    assert full.variants[0].cost == batched.cost  # `batch: true` prices it either way
    plain = path.read_text().replace("    batch: true\n", "")
    path.write_text(plain)
    assert estimate(path, batch=True).variants[0].cost == pytest.approx(
        estimate(path).variants[0].cost / 2
    )
    code, out, _ = run_cli(["run", str(path), "--dry-run", "--batch"], capsys)
    assert code == 0 and "gpt-4o-mini" in out


def test_max_cost_refuses_a_batch_that_could_cost_more(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    from harness import HarnessError

    path = _experiment(tmp_path, server, 50)
    with pytest.raises(HarnessError, match="nothing was submitted"):
        run(path, home=tmp_path / "home", batch=True, max_cost=0.000001, progress=False)
    assert not server.batches and not server.files
    result = run(path, home=tmp_path / "home2", batch=True, max_cost=1.0, progress=False)
    assert len(server.batches) == 1 and 0 < result.stats.cost < 1.0


def test_a_hostile_batch_id_names_no_file_and_no_url(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    from harness import HarnessError

    server.batch_id_override = "../../../escaped"
    path = _experiment(tmp_path, server, 4)
    with pytest.raises(HarnessError, match="unusable batch id"):
        run(path, home=tmp_path / "home", batch=True, progress=False)
    assert not list(tmp_path.rglob("escaped*"))
