"""A broken or hostile server must cost one request's error, never the run or a secret.

Every case goes through the real ``openai`` client and ``OpenAIProvider`` to the real test
server; the last ones through a whole ``harness run``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness._redact import redact, register_secret
from harness._run.runner import RetryPolicy
from harness.models.base import ModelRef, ModelRequest, ModelResponse, ProviderError
from harness.models.openai import OpenAIOptions, OpenAIProvider
from tests.conftest import MakeExperiment, run_cli
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"
REQUEST = ModelRequest(messages=({"role": "user", "content": "question 1"},))
SECRET = "hunter2-not-key-shaped-0042"  # only the registry can know this is a key


def ask(
    server: FakeOpenAIServer, fault: str | None = None, *, timeout: float = 2.0, **attrs: Any
) -> ModelResponse | ProviderError:
    """One request through the provider: its response, or the ProviderError it raised."""
    if fault is not None:
        server.set_faults([fault])

    async def go() -> ModelResponse | ProviderError:
        options = OpenAIOptions(base_url=server.base_url, api_key=server.api_key, timeout=timeout)
        provider = OpenAIProvider(ModelRef("openai", "echo-1"), options)
        for name, value in attrs.items():
            setattr(provider, name, value)
        try:
            return await provider.complete(REQUEST)
        except ProviderError as exc:
            return exc
        finally:
            await provider.aclose()

    return asyncio.run(go())


def test_a_valid_answer_has_int_token_counts(server: FakeOpenAIServer) -> None:
    response = ask(server)
    assert isinstance(response, ModelResponse) and response.text == "echo: question 1"
    assert type(response.prompt_tokens) is int and type(response.completion_tokens) is int


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("prompt_tokens_str", "usage.prompt_tokens"),
        ("tokens_bool", "usage.prompt_tokens"),
        ("tokens_nan", "usage.prompt_tokens"),
        ("tokens_negative", "usage.prompt_tokens"),
        ("tokens_huge", "usage.completion_tokens"),
        ("tokens_inf", "usage.completion_tokens"),
        ("content_int", "choices.0.message.content"),
        ("content_list", "choices.0.message.content"),
        ("no_choices", "choices"),
    ],
)
def test_an_ill_typed_field_is_a_retried_error(
    server: FakeOpenAIServer, field: str, where: str
) -> None:
    error = ask(server, f"badfield:{field}")
    assert isinstance(error, ProviderError), error
    assert error.kind == "retry"
    assert str(error).startswith(f"malformed response: {where}:")
    assert len(str(error)) < 200


def test_null_content_is_an_error_not_an_empty_output(server: FakeOpenAIServer) -> None:
    error = ask(server, "badfield:content_null")
    assert isinstance(error, ProviderError) and error.kind == "request"
    assert "null content" in str(error)


def test_a_missing_usage_is_no_token_counts(server: FakeOpenAIServer) -> None:
    response = ask(server, "badfield:no_usage")
    assert isinstance(response, ModelResponse) and response.text == "echo: question 1"
    assert response.prompt_tokens is None and response.completion_tokens is None


def test_timeout_is_a_deadline_for_a_dripped_body(server: FakeOpenAIServer) -> None:
    start = time.monotonic()
    error = ask(server, "drip:0.2", timeout=1.0)  # every read is quick; the whole is not
    assert time.monotonic() - start < 2.5
    assert isinstance(error, ProviderError) and error.kind == "retry"
    assert str(error) == "timed out after 1s (deadline)"


def test_an_endless_body_is_cut_at_the_cap(server: FakeOpenAIServer) -> None:
    start = time.monotonic()
    error = ask(server, "endless", timeout=2.0, max_body_bytes=2**20)
    assert time.monotonic() - start < 2.5
    assert isinstance(error, ProviderError) and error.kind == "retry"
    assert "over the 1048576-byte cap" in str(error)


def test_an_endless_body_ends_by_the_deadline_at_the_latest(server: FakeOpenAIServer) -> None:
    start = time.monotonic()
    error = ask(server, "endless", timeout=1.0)
    assert time.monotonic() - start < 2.5
    assert isinstance(error, ProviderError) and error.kind == "retry"


def test_a_redirect_loop_costs_one_request(server: FakeOpenAIServer) -> None:
    server.fault_hook = lambda path, body: "redirect_loop"
    error = ask(server)
    assert isinstance(error, ProviderError) and error.kind == "request"
    assert str(error) == (
        f"HTTP 302: server redirected to {server.base_url}/chat/completions; "
        "set base_url to the final address"
    )
    assert server.count(path=CHAT) == 1


def test_a_body_that_is_not_json_is_a_retried_error(server: FakeOpenAIServer) -> None:
    error = ask(server, "malformed")
    assert isinstance(error, ProviderError) and error.kind == "retry"
    assert str(error).startswith("malformed response: Invalid JSON: EOF while parsing")


def test_a_key_echoed_in_a_401_is_redacted(server: FakeOpenAIServer) -> None:
    server.api_key = SECRET
    error = ask(server, "echo_key")
    assert isinstance(error, ProviderError) and error.kind == "fatal"
    assert SECRET not in str(error) and "[REDACTED]" in str(error)
    assert "Authorization: Bearer [REDACTED]" in str(error)


def test_redact_hides_secrets_headers_and_key_shapes() -> None:
    register_secret("sk-x")  # too short to register: would redact ordinary text
    register_secret("not-needed")
    register_secret("another-registered-value")
    text = (
        "a another-registered-value b; Authorization: Basic dXNlcjpwdw==; bearer tok.en; "
        "OPENAI_API_KEY=xyz12; key sk-proj-AbCdEf123_-x; not-needed sk-x"
    )
    assert redact(text) == (
        "a [REDACTED] b; Authorization: Basic [REDACTED]; bearer [REDACTED]; "
        "OPENAI_API_KEY=[REDACTED]; key [REDACTED]; not-needed sk-x"
    )
    assert redact(redact(text)) == redact(text)


# ------------------------------------------------------------------ through `harness run`


def run_files(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): p.read_text("utf-8") for p in home.rglob("*.json*")}


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, which Python writes and others cannot read."""

    def refuse(name: str) -> None:
        raise ValueError(f"non-JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_a_run_survives_ill_typed_fields(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, after, rng: 0.0)
    broken = {"question 3": "tokens_nan", "question 5": "content_list", "question 7": "prompt_tokens_str", "question 8": "content_null"}  # fmt: skip
    server.fault_hook = lambda path, body: next(
        (f"badfield:{f}" for q, f in broken.items() if body["messages"][-1]["content"] == q),
        None,
    )
    home = tmp_path / "home"
    code, _, err = run_cli(["run", str(make_experiment(10)), "--home", str(home)], capsys)
    assert code == 0, err
    (results_file,) = home.glob("runs/*/results.jsonl")
    results = {r["case"]: r for r in map(strict_json, results_file.read_text().splitlines())}
    assert len(results) == 10
    errors = {case for case, r in results.items() if r["error"]}
    assert errors == {"c3", "c5", "c7", "c8"}
    assert "after 6 attempts" in results["c3"]["error"] and "null content" in results["c8"]["error"]
    for case, r in results.items():
        if case not in errors:
            assert r["output"] == f"echo: question {case[1:]}"
            assert type(r["prompt_tokens"]) is int and type(r["completion_tokens"]) is int
    for text in run_files(home).values():
        assert "NaN" not in text and "Infinity" not in text
    code, out, err = run_cli(["show", "latest", "--home", str(home)], capsys)
    assert code == 0, err


def test_a_redirect_loop_in_a_run_costs_one_request_per_case(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.fault_hook = lambda path, body: "redirect_loop"
    home = tmp_path / "home"
    code, _, err = run_cli(["run", str(make_experiment(10)), "--home", str(home)], capsys)
    assert code == 0, err
    (results_file,) = home.glob("runs/*/results.jsonl")
    errors = [strict_json(line)["error"] for line in results_file.read_text().splitlines()]
    assert len(errors) == 10 and all("server redirected to" in (e or "") for e in errors)
    assert server.count(path=CHAT) == 10


def test_an_echoed_key_never_reaches_run_files_or_output(
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.api_key = SECRET
    server.fault_hook = lambda path, body: "echo_key"
    monkeypatch.setenv("FAULTS_TEST_API_KEY", SECRET)  # the experiment file holds no key
    (tmp_path / "cases.jsonl").write_text(
        "".join(json.dumps({"id": f"c{i}", "input": f"question {i}"}) + "\n" for i in range(5))
    )
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"name: echo\nmodels:\n  - id: openai:echo-1\n    base_url: {server.base_url}\n"
        "    api_key_env: FAULTS_TEST_API_KEY\n    timeout: 2\n"
        'prompts:\n  - id: p\n    user: "{{ input }}"\ntests:\n  file: cases.jsonl\n'
    )
    home = tmp_path / "home"
    code, out, err = run_cli(["run", str(path), "--home", str(home)], capsys)
    assert code == 3, err
    (meta,) = (strict_json(t) for name, t in run_files(home).items() if name.endswith("run.json"))
    assert "HTTP 401 invalid_api_key" in meta["aborted"] and "[REDACTED]" in meta["aborted"]
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    for shown in (stored, out.encode(), err.encode()):
        assert SECRET.encode() not in shown


def test_a_key_written_in_the_file_stays_out_of_the_run_folder(
    server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run folder's copy of the experiment, run.json and results hold no key; run.json
    says which key went to the file's own server."""
    server.api_key = SECRET
    server.fault_hook = lambda path, body: "echo_key"
    (tmp_path / "cases.jsonl").write_text('{"id": "c0", "input": "question 0"}\n')
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"name: echo\nmodels:\n  - id: openai:echo-1\n    base_url: {server.base_url}\n"
        f"    api_key: {SECRET}\n    timeout: 2\n"
        'prompts:\n  - id: p\n    user: "{{ input }}"\ntests:\n  file: cases.jsonl\n'
    )
    home = tmp_path / "home"
    code, out, err = run_cli(["run", str(path), "--home", str(home)], capsys)
    assert code == 3, err
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert SECRET.encode() not in stored + out.encode() + err.encode()
    (meta,) = (strict_json(t) for name, t in run_files(home).items() if name.endswith("run.json"))
    assert meta["keys_sent"] == [
        f"openai:echo-1 sends the key written in the file to {server.base_url}"
    ]
