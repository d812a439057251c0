"""``--max-cost`` holds across concurrent requests and resumes, however a server counts.

The rule: the money spent never exceeds the budget by more than one request's cost. The
server here reports 200 prompt tokens for prompts counted as 10 (cl100k), and exactly 8
completion tokens (``max_tokens``), so every request costs the same known amount and the
money spent is the number of requests the server answered times that.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from harness._run.budget import Budget
from harness.models.pricing import Price
from tests.conftest import run_cli
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"
PRICE = 1000.0  # USD per million tokens, in and out: $0.001 a token
REQUEST = (200 + 8) * PRICE / 1e6  # what each request costs: $0.208
BUDGET = 2.0


def write_experiment(folder: Path, server: FakeOpenAIServer, cases: int) -> Path:
    rows = [{"id": f"c{i}", "input": f"question {i}"} for i in range(cases)]
    (folder / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / "exp.yaml"
    path.write_text(
        f"name: budget\nmodels:\n  - id: openai:echo-1\n    base_url: {server.base_url}\n"
        f"    api_key: sk-test\n    price: {{input: {PRICE}, output: {PRICE}}}\n"
        "params: {temperature: 0, max_tokens: 8}\n"
        'prompts:\n  - id: p\n    user: "{{ input }}"\n'
        "tests:\n  file: cases.jsonl\n"
    )
    return path


def spent(out: str, err: str) -> tuple[float, float]:
    """(the summary's total, the abort message's total) as the CLI printed them."""
    summary = re.search(r"errors, \d+ retries, \$([\d.]+)", out + err)
    aborted = re.search(r"spent \$([\d.]+) of \$[\d.]+ across this run's resumes", err)
    assert summary is not None and aborted is not None, out + err
    return float(summary.group(1)), float(aborted.group(1))


@pytest.fixture
def counting(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.usage_override = {"prompt_tokens": 200, "completion_tokens": 8}
    server.latency_s = 0.02  # concurrent requests overlap
    return server


def test_spend_stays_within_one_request_when_the_server_counts_more(
    counting: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_experiment(tmp_path, counting, 200)
    home = str(tmp_path / "home")
    args = ["run", str(path), "--home", home, "--concurrency", "32", "--no-cache"]
    code, out, err = run_cli([*args, "--max-cost", str(BUDGET)], capsys)
    assert code == 3 and "budget" in err
    money = counting.count(path=CHAT) * REQUEST
    assert BUDGET - REQUEST < money <= BUDGET + REQUEST
    summary, aborted = spent(out, err)
    assert summary == aborted == pytest.approx(money, abs=1e-4)  # one number, the true one


def test_budget_carries_across_resumes(
    counting: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_experiment(tmp_path, counting, 200)
    home = str(tmp_path / "home")
    args = ["run", str(path), "--home", home, "--concurrency", "32", "--no-cache"]
    run_cli([*args, "--max-cost", str(BUDGET)], capsys)
    # Resumed with the same budget, then without one (the run's own is kept).
    for extra in (["--resume", "--max-cost", str(BUDGET)], ["--resume"]):
        code, out, err = run_cli([*args, *extra], capsys)
        assert code == 3 and "budget" in err
        money = counting.count(path=CHAT) * REQUEST
        assert money <= BUDGET + REQUEST
        summary, aborted = spent(out, err)
        assert summary == aborted == pytest.approx(money, abs=1e-4)
    # A larger budget on resume lets the run go on, within the new budget.
    code, out, err = run_cli([*args, "--resume", "--max-cost", str(2 * BUDGET)], capsys)
    money = counting.count(path=CHAT) * REQUEST
    assert code == 3 and 2 * BUDGET - REQUEST < money <= 2 * BUDGET + REQUEST
    assert spent(out, err)[0] == pytest.approx(money, abs=1e-4)


def test_a_models_first_request_goes_alone(
    counting: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Until a response says how the server counts, no other request is in flight."""
    events: list[str] = []

    async def respond(body: dict[str, object]) -> str:
        events.append("start")
        await asyncio.sleep(0.05)
        events.append("end")
        return "ok"

    counting.responder = respond
    path = write_experiment(tmp_path, counting, 20)
    args = ["run", str(path), "--home", str(tmp_path / "home"), "--concurrency", "8"]
    code, _, err = run_cli([*args, "--max-cost", "100"], capsys)
    assert code == 0, err
    assert events[:3] == ["start", "end", "start"]
    assert "start" in events[3:5]  # and then concurrently again


def test_waits_for_in_flight_requests_before_refusing() -> None:
    """A request that fits once others settle waits; one that can never fit is refused."""
    price = Price(1e6, 1e6)  # $1 a token

    async def scenario() -> Budget:
        budget = Budget(10.0, {"m": price})
        first = await budget.reserve("m", 2, 2)  # $4, uncalibrated: goes alone
        assert first is not None
        second = asyncio.ensure_future(budget.reserve("m", 2, 2))
        await asyncio.sleep(0)
        assert not second.done()  # the first response is not in yet
        budget.settle(first, 3.0, 1, 1)  # $3 spent
        got = await second  # $3 + $4 <= $10
        assert got is not None
        third = asyncio.ensure_future(budget.reserve("m", 2, 2))  # $3 + $4 + $4 > $10
        await asyncio.sleep(0)
        assert not third.done() and not budget.refused  # $4 may come back: it waits
        budget.settle(got, 4.0, 2, 2)  # $7 spent; $7 + $4 > $10 with nothing in flight
        assert await third is None and budget.refused
        return budget

    budget = asyncio.run(asyncio.wait_for(scenario(), 5))
    assert budget.spent == 7.0 and budget.reserved == 0.0
