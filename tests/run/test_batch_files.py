"""Batch API input files: split at the limits, one line per distinct request, accepted by an
OpenAI-compatible Batch API (the test server, through the real ``openai`` client)."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from harness._run.batch_files import BatchLimits, write_batch_files
from harness.models.base import GenerationParams, ModelRequest
from harness.models.openai import chat_body
from tests.openai_server import FakeOpenAIServer


def _requests(n: int) -> list[tuple[str, dict]]:
    params = GenerationParams(temperature=0.0, max_tokens=8)
    out = []
    for i in range(n):
        request = ModelRequest(({"role": "user", "content": f"question {i}"},), params)
        out.append((f"key{i:05d}", chat_body("gpt-4o-mini", request)))
    return out


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_three_thousand_requests_split_by_count_and_by_size(tmp_path: Path) -> None:
    requests = _requests(3000)
    files = write_batch_files(requests, tmp_path / "a", "m", BatchLimits(max_requests=1000))
    assert [f.requests for f in files] == [1000, 1000, 1000]
    lines = [line for f in files for line in _read(f.path)]
    assert [line["custom_id"] for line in lines] == [k for k, _ in requests]
    assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
    assert lines[0]["body"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "question 0"}],
        "temperature": 0.0,
        "max_tokens": 8,
    }
    small = write_batch_files(requests, tmp_path / "b", "m", BatchLimits(max_bytes=40_000))
    assert len(small) > 3 and all(f.bytes <= 40_000 for f in small)
    assert all(f.bytes == f.path.stat().st_size for f in small)
    assert sum(f.requests for f in small) == 3000


def test_identical_requests_are_written_once_and_oversized_ones_refused(tmp_path: Path) -> None:
    requests = _requests(5)
    files = write_batch_files(requests + requests[:3], tmp_path, "m")
    assert [f.requests for f in files] == [5]
    with pytest.raises(ValueError, match="over the 50-byte limit"):
        write_batch_files(requests, tmp_path / "c", "m", BatchLimits(max_bytes=50))


def test_a_written_file_is_accepted_and_answered_by_a_batch_api(tmp_path: Path) -> None:
    (written,) = write_batch_files(_requests(30), tmp_path, "m")
    with FakeOpenAIServer(api_key="sk-test") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        with written.path.open("rb") as fh:
            upload = client.files.create(file=(written.path.name, fh), purpose="batch")
        batch = client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for _ in range(3):
            batch = client.batches.retrieve(batch.id)
        assert batch.status == "completed" and batch.output_file_id is not None
        output = client.files.content(batch.output_file_id).text.splitlines()
        answers = {json.loads(x)["custom_id"]: json.loads(x)["response"] for x in output}
    assert sorted(answers) == [f"key{i:05d}" for i in range(30)]
    body = answers["key00007"]["body"]
    assert body["choices"][0]["message"]["content"] == "echo: question 7"
    assert b"sk-test" not in written.path.read_bytes()  # the key travels in a header only
