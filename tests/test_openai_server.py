"""Tests of the fake OpenAI server, driven by the real ``openai`` client."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.openai_server import FakeOpenAIServer, RequestRecord

KEY = "sk-test"
MODEL = "gpt-4o-mini"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is two plus two?"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=KEY, models=[MODEL, "gpt-4o"]) as srv:
        yield srv


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=5) as c:
        yield c


def test_chat_round_trip_with_usage(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert resp.object == "chat.completion"
    assert resp.model == MODEL
    assert resp.id.startswith("chatcmpl-")
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.logprobs is None
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: What is two plus two?"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 5
    assert resp.usage.completion_tokens == 6
    assert resp.usage.total_tokens == 11

    (rec,) = server.requests
    assert isinstance(rec, RequestRecord)
    assert (rec.path, rec.model, rec.status, rec.fault) == (
        "/v1/chat/completions",
        MODEL,
        200,
        None,
    )
    assert rec.messages == USER
    assert rec.messages_hash is not None and len(rec.messages_hash) == 16
    assert server.count(path="/v1/chat/completions", status=200) == 1
    server.reset_log()
    assert server.requests == []


def test_custom_responder(server: FakeOpenAIServer) -> None:
    server.responder = lambda req: req["model"] + "|" + str(len(req["messages"]))
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as c:
        resp = c.chat.completions.create(model="gpt-4o", messages=USER * 2)
        assert resp.choices[0].message.content == "gpt-4o|2"


def test_401_without_or_with_wrong_key(server: FakeOpenAIServer) -> None:
    with (
        openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0) as c,
        pytest.raises(openai.AuthenticationError) as ei,
    ):
        c.chat.completions.create(model=MODEL, messages=USER)
    assert ei.value.status_code == 401
    assert ei.value.code == "invalid_api_key"

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        body = json.dumps({"model": MODEL, "messages": USER})
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        raw = conn.getresponse()
        status, payload = raw.status, json.loads(raw.read())
    finally:
        conn.close()
    assert status == 401
    assert payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["code"] == "invalid_api_key"
    assert server.count(status=401) == 2


def test_404_unknown_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="gpt-nope", messages=USER)
    err = ei.value
    assert err.status_code == 404
    assert (err.code, err.param, err.type) == ("model_not_found", "model", "invalid_request_error")
    assert "gpt-nope" in err.message


def test_any_model_accepted_by_default() -> None:
    with (
        FakeOpenAIServer() as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as c,
    ):
        resp = c.chat.completions.create(model="whatever-1", messages=USER)
        assert resp.model == "whatever-1"


def test_429_retry_after_seen_without_retries(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    server.set_faults(["429:2"])
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert ei.value.response.headers["retry-after"] == "2"
    assert ei.value.code == "rate_limit_exceeded"
    assert server.count(fault="429", status=429) == 1
    # The schedule is consumed: the next request succeeds.
    assert client.chat.completions.create(model=MODEL, messages=USER).choices[0].message.content


def test_client_retries_through_scheduled_faults(server: FakeOpenAIServer) -> None:
    server.set_faults(["429:0.01", "429:0.01", "ok"])
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=2) as c:
        resp = c.chat.completions.create(model=MODEL, messages=USER)
    assert resp.choices[0].message.content == "echo: What is two plus two?"
    assert [r.status for r in server.requests] == [429, 429, 200]
    assert server.pending_faults == 0  # "ok" was consumed by the successful retry


def test_quota_error(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.set_faults(["quota"])
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert ei.value.code == "insufficient_quota"
    assert ei.value.type == "insufficient_quota"
    assert "retry-after" not in ei.value.response.headers


@pytest.mark.parametrize(
    ("kind", "exc"),
    [
        ("500", openai.InternalServerError),
        ("503", openai.InternalServerError),
        ("400", openai.BadRequestError),
    ],
)
def test_status_faults(
    server: FakeOpenAIServer, client: openai.OpenAI, kind: str, exc: type[Exception]
) -> None:
    server.set_faults([kind])
    with pytest.raises(exc):
        client.chat.completions.create(model=MODEL, messages=USER)
    assert server.requests[0].status == int(kind)


def test_malformed_body(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    # A 200 with an application/json body that is not JSON: the openai client surfaces the
    # decoder's error as is (json.JSONDecodeError, a ValueError), not as an openai.APIError.
    server.set_faults(["malformed"])
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model=MODEL, messages=USER)
    assert server.requests[0].fault == "malformed"


def test_drop_is_a_connection_error(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.set_faults(["drop"])
    with pytest.raises(openai.APIConnectionError) as ei:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert not isinstance(ei.value, openai.APITimeoutError)
    assert server.requests[0].fault == "drop"
    assert server.requests[0].status is None
    # The server keeps serving after a dropped connection.
    assert client.chat.completions.create(model=MODEL, messages=USER).choices


def test_hang_times_out_and_stop_is_prompt() -> None:
    srv = FakeOpenAIServer(faults=["hang"], hang_s=60).start()
    try:
        with (
            openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0, timeout=0.2) as c,
            pytest.raises(openai.APITimeoutError),
        ):
            c.chat.completions.create(model=MODEL, messages=USER)
        srv.push_faults("hang")
        with openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0, timeout=5) as c2:
            srv.hang_s = 0.05  # short hang, then a normal (late) answer
            assert c2.chat.completions.create(model=MODEL, messages=USER).choices
    finally:
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 3
    assert [r.fault for r in srv.requests] == ["hang", "hang"]


def test_seeded_random_faults_are_reproducible() -> None:
    def run() -> list[str | None]:
        srv = FakeOpenAIServer(fault_rate=0.5, fault_kinds=["500", "429:0"], seed=7)
        with srv, openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as c:
            for _ in range(12):
                with contextlib.suppress(openai.APIStatusError):
                    c.chat.completions.create(model=MODEL, messages=USER)
            return [r.fault for r in srv.requests]

    first = run()
    assert first == run()
    assert set(first) == {None, "500", "429"}


def test_concurrent_async_requests_overlap() -> None:
    async def go(base_url: str) -> float:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as c:
            t0 = time.perf_counter()
            results = await asyncio.gather(
                *(
                    c.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": f"q{i}"}]
                    )
                    for i in range(32)
                )
            )
            assert sorted(r.choices[0].message.content or "" for r in results) == sorted(
                f"echo: q{i}" for i in range(32)
            )
            return time.perf_counter() - t0

    with FakeOpenAIServer(latency_s=0.2) as srv:
        elapsed = asyncio.run(go(srv.base_url))
    assert elapsed < 0.2 * 8  # 32 requests at 0.2 s each overlap


def test_fine_tuning_round_trip() -> None:
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"a{i}"},
            ]
        }
        for i in range(3)
    ]
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()

    async def go(srv: FakeOpenAIServer) -> None:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0) as c:
            f = await c.files.create(file=("train.jsonl", data), purpose="fine-tune")
            assert (f.object, f.purpose, f.bytes, f.filename) == (
                "file",
                "fine-tune",
                len(data),
                "train.jsonl",
            )

            job = await c.fine_tuning.jobs.create(
                training_file=f.id,
                model=MODEL,
                suffix="exp",
                method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
            )
            assert job.status == "queued" and job.fine_tuned_model is None
            statuses = []
            for _ in range(5):
                job = await c.fine_tuning.jobs.retrieve(job.id)
                statuses.append(job.status)
                if job.status in ("succeeded", "failed", "cancelled"):
                    break
            assert statuses == ["running", "succeeded"]
            suffix = job.id[-8:]
            assert job.fine_tuned_model == f"ft:{MODEL}:harness:exp:{suffix}"
            assert job.hyperparameters.n_epochs == 2
            assert job.trained_tokens and job.finished_at and job.result_files

            events = [e async for e in c.fine_tuning.jobs.list_events(job.id)]
            assert all(e.object == "fine_tuning.job.event" for e in events)
            assert events[0].message == "The job has successfully completed"  # newest first
            assert any(e.type == "metrics" for e in events)
            page = await c.fine_tuning.jobs.list_events(job.id, limit=2)
            assert len(page.data) == 2 and page.has_more

            ckpts = [x async for x in c.fine_tuning.jobs.checkpoints.list(job.id)]
            assert [x.step_number for x in ckpts] == [6, 3]
            assert [j.id async for j in c.fine_tuning.jobs.list()] == [job.id]

            # The fine-tuned model is now a known model; it recalls its training answers.
            assert job.fine_tuned_model is not None
            resp = await c.chat.completions.create(
                model=job.fine_tuned_model, messages=[{"role": "user", "content": "q1"}]
            )
            assert resp.choices[0].message.content == "a1"

            other = await c.fine_tuning.jobs.create(training_file=f.id, model=MODEL)
            assert (await c.fine_tuning.jobs.cancel(other.id)).status == "cancelled"
            with pytest.raises(openai.NotFoundError):
                await c.fine_tuning.jobs.retrieve("ftjob-missing")

    with FakeOpenAIServer(api_key=KEY, models=[MODEL]) as srv:
        asyncio.run(go(srv))
        assert srv.count(prefix="/v1/fine_tuning/jobs/") >= 3


def test_fine_tuning_bad_training_file_fails() -> None:
    with (
        FakeOpenAIServer(ft_polls_to_finish=1) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as c,
    ):
        f = c.files.create(file=("bad.jsonl", b"not json\n"), purpose="fine-tune")
        job = c.fine_tuning.jobs.create(training_file=f.id, model=MODEL)
        job = c.fine_tuning.jobs.retrieve(job.id)
        assert job.status == "failed"
        assert job.error is not None and job.error.code == "invalid_training_file"
        with pytest.raises(openai.BadRequestError):
            c.fine_tuning.jobs.create(training_file="file-missing", model=MODEL)


def test_script_mode_prints_base_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_server", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as c:
            resp = c.chat.completions.create(model=MODEL, messages=USER)
            assert resp.choices[0].message.content == "echo: What is two plus two?"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
