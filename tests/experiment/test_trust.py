"""A file received from someone else reads only its project and sends only API keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.experiment import Trust, validate_experiment
from tests.conftest import run_cli as run

EXP = """
name: e
models: [{{id: openai:m, base_url: "http://127.0.0.1:9/v1"{model}}}]
prompts: [{{id: p, {prompt}}}]
tests: {{file: {data}}}
"""


def write_exp(
    folder: Path, *, data: str = "cases.jsonl", prompt: str = 'user: "{{ input }}"', model: str = ""
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cases.jsonl").write_text('{"id": "a", "input": "x"}\n')
    path = folder / "exp.yaml"
    path.write_text(EXP.format(data=data, prompt=prompt, model=model))
    return path


def errors(path: Path, trust: Trust | None = None) -> list[str]:
    return [
        f"{p.location.line}: {p.message}" for p in validate_experiment(path, trust=trust).errors
    ]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secrets.csv"
    secret.parent.mkdir()
    secret.write_text("id,input\ns1,SECRET-VALUE\n")
    return secret


def test_data_file_outside_the_project_needs_consent(tmp_path: Path, outside: Path) -> None:
    path = write_exp(tmp_path / "received", data="../outside/secrets.csv")
    found = errors(path)
    assert any(e.startswith("5:") and "--allow-outside-files" in e for e in found), found
    assert errors(path, Trust(outside_files=True)) == []


def test_absolute_prompt_file_is_refused(tmp_path: Path) -> None:
    path = write_exp(tmp_path, prompt="file: /etc/passwd")
    found = errors(path)
    assert any("outside this experiment's project" in e for e in found), found
    assert not any("root:" in e for e in found)  # nothing of the file was read or shown


def test_symlink_out_of_the_project_is_refused(tmp_path: Path, outside: Path) -> None:
    folder = tmp_path / "received"
    folder.mkdir()
    (folder / "link.csv").symlink_to(outside)
    found = errors(write_exp(folder, data="link.csv"))
    assert any("outside this experiment's project" in e for e in found), found


@pytest.mark.parametrize("marker", [".git", "pyproject.toml", "harness.toml"])
def test_project_marker_lets_siblings_be_read(tmp_path: Path, marker: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cases.jsonl").write_text('{"id": "a", "input": "x"}\n')
    (tmp_path / marker).mkdir() if marker == ".git" else (tmp_path / marker).write_text("")
    assert errors(write_exp(tmp_path / "experiments", data="../data/cases.jsonl")) == []


def test_api_key_env_must_look_like_an_api_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_exp(tmp_path, model=", api_key_env: AWS_SECRET_ACCESS_KEY")
    found = errors(path)
    assert any(e.startswith("3:") and "--allow-env AWS_SECRET_ACCESS_KEY" in e for e in found)
    assert errors(path, Trust.of(env=["AWS_SECRET_ACCESS_KEY"])) == []
    code, _, err = run(["validate", str(path), "--allow-env", "AWS_SECRET_ACCESS_KEY"], capsys)
    assert code == 0, err
    assert errors(write_exp(tmp_path / "ok", model=", api_key_env: OPENAI_API_KEY")) == []


def test_dry_run_says_which_key_goes_to_the_files_own_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-user-secret-123456")
    path = write_exp(tmp_path)
    code, out, err = run(["run", str(path), "--dry-run", "--home", str(tmp_path / "h")], capsys)
    assert code == 0, err
    assert "m sends $OPENAI_API_KEY (your key) to http://127.0.0.1:9/v1" in err.replace(
        "openai:", ""
    )
    assert "sk-user-secret" not in out + err
    assert os.environ["OPENAI_API_KEY"]  # untouched
