"""Hosted fine-tuning end to end: the real ``openai`` client against the fake OpenAI server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from harness.errors import HarnessError
from harness.finetune.hosted import (
    cancel_job,
    hosted_model_id,
    job_status,
    list_jobs,
    start_job,
    wait_for_job,
)
from tests.openai_server import FakeOpenAIServer

KEY = "sk-test"
BASE = "openai:gpt-4o-mini-2024-07-18"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=KEY, ft_polls_to_finish=2) as srv:
        yield srv


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _data(path: Path, pairs: dict[str, str]) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in pairs.items()
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return _data(tmp_path / "train.jsonl", {"capital of France?": "Paris", "2+2?": "4"})


def _posts(server: FakeOpenAIServer, path: str) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path == path)


def test_start_wait_succeed_and_the_model_answers(
    server: FakeOpenAIServer, train: Path, home: Path, tmp_path: Path
) -> None:
    valid = _data(tmp_path / "valid.jsonl", {"3+3?": "6"})
    job = start_job(
        train,
        base=BASE,
        suffix="demo",
        validation_file=valid,
        epochs=2,
        base_url=server.base_url,
        api_key=KEY,
        home=home,
    )
    assert job.status == "queued" and job.model == "gpt-4o-mini-2024-07-18"
    assert _posts(server, "/v1/files") == 2
    sent = server.jobs[job.id].obj
    assert sent["validation_file"] is not None
    assert sent["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 2,  # only the given hyperparameter; the rest stay the provider's "auto"
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    with pytest.raises(HarnessError, match="no model yet"):
        hosted_model_id(job)

    lines: list[str] = []
    done = wait_for_job(
        job.id,
        poll_s=0.001,
        on_event=lines.append,
        base_url=server.base_url,
        api_key=KEY,
        home=home,
    )
    assert done.status == "succeeded" and done.trained_tokens
    assert done.fine_tuned_model is not None
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:harness:demo:")
    assert hosted_model_id(done) == f"openai:{done.fine_tuned_model}"
    assert len(lines) == len(set(lines))  # each event once, though polled several times
    assert any("Fine-tuning job started" in line for line in lines)
    assert any("New fine-tuned model created" in line for line in lines)
    assert any(line.startswith("checkpoint step") for line in lines)
    assert lines.index("[info] Fine-tuning job started") < len(lines) - 1  # chronological

    (entry,) = list_jobs(home)
    assert entry["status"] == "succeeded"
    assert entry["hosted_model"] == hosted_model_id(done)
    # The record knows the endpoint, so later calls need only the job id and the key.
    assert job_status(job.id, api_key=KEY, home=home) == done

    with openai.OpenAI(base_url=server.base_url, api_key=KEY) as client:
        reply = client.chat.completions.create(
            model=done.fine_tuned_model,
            messages=[{"role": "user", "content": "capital of France?"}],
        )
    assert reply.choices[0].message.content == "Paris"


def test_same_inputs_reuse_the_job(server: FakeOpenAIServer, train: Path, home: Path) -> None:
    kw: dict[str, Any] = {"base_url": server.base_url, "api_key": KEY, "home": home}
    first = start_job(train, base=BASE, suffix="a", **kw)
    again = start_job(train, base="gpt-4o-mini-2024-07-18", suffix="a", **kw)
    assert again.id == first.id
    assert again.status == "running"  # re-fetched, not replayed from the record
    assert (_posts(server, "/v1/files"), _posts(server, "/v1/fine_tuning/jobs")) == (1, 1)

    other = start_job(train, base=BASE, suffix="b", **kw)
    assert other.id != first.id
    assert (_posts(server, "/v1/files"), _posts(server, "/v1/fine_tuning/jobs")) == (2, 2)
    assert len(list_jobs(home)) == 2


def test_upload_is_reused_when_job_creation_failed(
    server: FakeOpenAIServer, train: Path, home: Path
) -> None:
    server.fault_paths = ("/v1/fine_tuning/jobs",)
    server.set_faults(["500"])
    with pytest.raises(HarnessError, match="HTTP 500"):
        start_job(train, base=BASE, base_url=server.base_url, api_key=KEY, home=home)
    job = start_job(train, base=BASE, base_url=server.base_url, api_key=KEY, home=home)
    assert job.status == "queued"
    assert _posts(server, "/v1/files") == 1  # the first upload, not a second one
    assert len(server.jobs) == 1


def test_a_job_whose_id_was_never_recorded_is_found(
    server: FakeOpenAIServer, train: Path, home: Path
) -> None:
    job = start_job(train, base=BASE, base_url=server.base_url, api_key=KEY, home=home)
    record_path = home / "finetune" / "hosted_jobs.json"
    record = json.loads(record_path.read_text())
    for entry in record["jobs"].values():  # as if the process died right after the create
        del entry["job_id"]
    record_path.write_text(json.dumps(record))
    again = start_job(train, base=BASE, base_url=server.base_url, api_key=KEY, home=home)
    assert again.id == job.id
    assert (_posts(server, "/v1/files"), _posts(server, "/v1/fine_tuning/jobs")) == (1, 1)


def test_failed_job_raises_with_its_message_and_can_be_restarted(train: Path, home: Path) -> None:
    with FakeOpenAIServer(api_key=KEY, ft_polls_to_finish=1, ft_outcome="failed") as server:
        kw: dict[str, Any] = {"base_url": server.base_url, "api_key": KEY, "home": home}
        job = start_job(train, base=BASE, **kw)
        with pytest.raises(HarnessError, match="failed: Fine-tuning failed \\(injected"):
            wait_for_job(job.id, poll_s=0.001, **kw)
        assert list_jobs(home)[0]["status"] == "failed"
        retry = start_job(train, base=BASE, **kw)
        assert retry.id != job.id
        assert _posts(server, "/v1/fine_tuning/jobs") == 2
        assert list_jobs(home)[0]["previous_job_ids"] == [job.id]


def test_cancel(server: FakeOpenAIServer, train: Path, home: Path) -> None:
    job = start_job(train, base=BASE, base_url=server.base_url, api_key=KEY, home=home)
    assert cancel_job(job.id, base_url=server.base_url, api_key=KEY, home=home).status == (
        "cancelled"
    )
    assert job_status(job.id, api_key=KEY, home=home).status == "cancelled"
    assert list_jobs(home)[0]["status"] == "cancelled"
    with pytest.raises(HarnessError, match="cancelled"):
        wait_for_job(job.id, poll_s=0.001, api_key=KEY, home=home)
    with pytest.raises(HarnessError, match="HTTP 400: Job has already completed"):
        cancel_job(job.id, api_key=KEY, home=home)


def test_wait_times_out_and_the_job_keeps_running(train: Path, home: Path) -> None:
    with FakeOpenAIServer(api_key=KEY, ft_polls_to_finish=1000) as server:
        job = start_job(train, base=BASE, base_url=server.base_url, api_key=KEY, home=home)
        with pytest.raises(HarnessError, match="still running after 0.05s"):
            wait_for_job(job.id, poll_s=0.01, timeout_s=0.05, api_key=KEY, home=home)


def test_missing_or_wrong_key(server: FakeOpenAIServer, train: Path, home: Path) -> None:
    with pytest.raises(HarnessError, match="OPENAI_API_KEY"):
        start_job(train, base=BASE, home=home)
    with pytest.raises(HarnessError, match="HTTP 401"):
        start_job(train, base=BASE, base_url=server.base_url, api_key="sk-wrong", home=home)
    with pytest.raises(HarnessError, match="cannot read"):
        start_job(home / "missing.jsonl", base=BASE, api_key=KEY, home=home)


def test_openai_s_own_endpoint_is_warned_about_before_anything_is_uploaded(
    server: FakeOpenAIServer, train: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.finetune.hosted import OPENAI_CLOSING, is_openai_endpoint

    assert is_openai_endpoint(None) and is_openai_endpoint("https://api.openai.com/v1")
    assert not is_openai_endpoint(server.base_url)
    assert not is_openai_endpoint("https://my-resource.openai.azure.com/openai/v1")
    heard: list[str] = []
    start_job(
        train, base=BASE, base_url=server.base_url, api_key=KEY, home=home, on_notice=heard.append
    )
    assert heard == []  # another server with the fine-tuning API: nothing to say
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused")
    with pytest.raises(HarnessError):  # no server at api.openai.com from here
        start_job(
            train, base=BASE, home=home, on_notice=heard.append, base_url="http://127.0.0.1:9/v1"
        )
    assert heard == []
    monkeypatch.setattr("harness.finetune.hosted._upload", _never)
    with pytest.raises(_Stop):
        start_job(train, base=BASE, suffix="x", home=home, on_notice=heard.append)
    assert heard == [OPENAI_CLOSING]  # said before the first upload was attempted
    assert "2027-01-06" in OPENAI_CLOSING and "--trainer local" in OPENAI_CLOSING


class _Stop(Exception):
    pass


def _never(*args: object) -> str:
    raise _Stop


def test_a_job_refused_because_fine_tuning_closed_is_a_clear_error_without_retry(
    server: FakeOpenAIServer, train: Path, home: Path
) -> None:
    server.ft_refuse = "Fine-tuning is no longer available for your organization."
    with pytest.raises(HarnessError, match="HTTP 403.*no longer available.*2027-01-06"):
        start_job(train, base=BASE, base_url=server.base_url, api_key=KEY, home=home)
    assert _posts(server, "/v1/fine_tuning/jobs") == 1
