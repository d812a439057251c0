"""The test server's Batch API, driven by the real ``openai`` client: what batch mode will
rely on (upload, create, the states, output in any order, error lines, expiry, cancel)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import openai
import pytest

from tests.openai_server import FakeOpenAIServer


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key="sk-test", models=["m1"], seed=1) as srv:
        yield srv


@pytest.fixture
def client(server: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def _input(n: int, model: str = "m1") -> bytes:
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"q{i}"}]},
        }
        for i in range(n)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _submit(client: openai.OpenAI, data: bytes) -> str:
    upload = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "validating"
    return batch.id


def _lines(client: openai.OpenAI, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    text = client.files.content(file_id).text
    return [json.loads(line) for line in text.splitlines()]


def test_a_batch_moves_through_its_states_and_answers_every_line(client: openai.OpenAI) -> None:
    batch_id = _submit(client, _input(20))
    seen = [client.batches.retrieve(batch_id).status for _ in range(3)]
    assert seen == ["in_progress", "finalizing", "completed"]
    batch = client.batches.retrieve(batch_id)
    assert batch.request_counts is not None and batch.request_counts.completed == 20
    out = _lines(client, batch.output_file_id)
    assert sorted(line["custom_id"] for line in out) == sorted(f"req-{i}" for i in range(20))
    assert [line["custom_id"] for line in out] != [f"req-{i}" for i in range(20)]  # no order
    first = next(line for line in out if line["custom_id"] == "req-3")
    assert first["response"]["status_code"] == 200
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "echo: q3"
    assert batch.error_file_id is None
    listed = client.batches.list()
    assert [b.id for b in listed.data] == [batch_id]


def test_bad_lines_go_to_the_error_file(client: openai.OpenAI) -> None:
    data = _input(3) + _input(1, model="nope").replace(b"req-0", b"bad-0")
    batch_id = _submit(client, data)
    for _ in range(3):
        batch = client.batches.retrieve(batch_id)
    assert batch.status == "completed"
    errors = _lines(client, batch.error_file_id)
    assert [e["custom_id"] for e in errors] == ["bad-0"]
    assert errors[0]["response"]["status_code"] == 404
    assert len(_lines(client, batch.output_file_id)) == 3


def test_an_expired_batch_keeps_the_part_it_answered(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    server.batch_outcomes = ["expired"]
    batch_id = _submit(client, _input(10))
    for _ in range(3):
        batch = client.batches.retrieve(batch_id)
    assert batch.status == "expired"
    assert len(_lines(client, batch.output_file_id)) == 5
    expired = _lines(client, batch.error_file_id)
    assert {e["error"]["code"] for e in expired} == {"batch_expired"} and len(expired) == 5


def test_cancel_and_failure(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    batch_id = _submit(client, _input(4))
    assert client.batches.cancel(batch_id).status == "cancelling"
    batch = client.batches.retrieve(batch_id)
    assert batch.status == "cancelled" and batch.request_counts is not None
    assert batch.request_counts.completed == 2
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch_id)
    server.batch_outcomes = ["failed"]
    failed = _submit(client, _input(2))
    for _ in range(3):
        batch = client.batches.retrieve(failed)
    assert batch.status == "failed" and batch.output_file_id is None and batch.errors
