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


# ----------------------------------------------------------------------------- model files

MODEL_EXP = """
name: e
models: [{model}]
prompts: [{{id: p, user: "{{{{ input }}}}"}}]
tests:
  items: [{{id: a, input: x}}]
  assert:
    - judge: {{rubric: polite, model: {judge}}}
examples:
  items: [{{id: s, input: y, output: z}}]
selectors: [{{similar: {{method: embedding, embedding_model: {embedding}}}}}]
shots: [1]
finetune:
  - {{name: tuned, base: {base}}}
"""


def write_model_exp(
    folder: Path,
    *,
    model: str = "local:smollm2",
    judge: str = "local:smollm2",
    embedding: str = "all-MiniLM-L6-v2",
    base: str = "local:smollm2",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exp.yaml"
    path.write_text(MODEL_EXP.format(model=model, judge=judge, embedding=embedding, base=base))
    return path


def outside_errors(path: Path, trust: Trust | None = None) -> list[str]:
    return [e for e in errors(path, trust) if "outside this experiment's project" in e]


@pytest.mark.parametrize(
    ("field", "value", "line"),
    [
        ("model", "local:{outside}", 3),  # a model folder
        ("model", "local:{outside}/base.gguf", 3),  # a GGUF file
        ("model", "local:smollm2+{outside}", 3),  # an adapter folder after +
        ("model", "local:smollm2+../../../adapters/x", 3),  # out of the harness home
        ("model", "local:smollm2+date-lora/../../../../../tmp", 3),  # a name that climbs out
        ("judge", "local:{outside}", 8),
        ("base", "local:{outside}", 14),  # a fine-tune's base
        ("embedding", "{outside}", 11),
    ],
)
def test_model_paths_outside_the_project_need_consent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, value: str, line: int
) -> None:
    outside = tmp_path / "outside-models"
    (outside / "model").mkdir(parents=True)
    project = tmp_path / "received"
    monkeypatch.chdir(tmp_path)  # relative paths are read from the working directory
    path = write_model_exp(project, **{field: value.format(outside=outside / "model")})
    if "date-lora/" in value:  # not a folder here, and no adapter's name: refused as such
        found = [e for e in errors(path) if "neither a folder nor the name" in e]
        assert len(found) == 1 and found[0].startswith(f"{line}:"), errors(path)
        assert found == [
            e
            for e in errors(path, Trust(outside_files=True))
            if "neither a folder nor the name" in e
        ]
        return
    found = outside_errors(path)
    assert len(found) == 1 and found[0].startswith(f"{line}:"), errors(path)
    assert "--allow-outside-files" in found[0]
    assert outside_errors(path, Trust(outside_files=True)) == []


def test_model_names_hub_ids_and_folders_inside_the_project_are_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "models" / "tiny").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    monkeypatch.chdir(project)
    for settings in (
        {},  # the embedded model, an adapter trained here, a hub id in the user's cache
        {"model": "local:HuggingFaceTB/SmolLM2-135M-Instruct+date-lora"},
        {"model": "local:./models/tiny", "base": "local:models/tiny"},
        {"judge": f"local:{project / 'models' / 'tiny'}", "embedding": "./models/tiny"},
    ):
        path = write_model_exp(project / "experiments", **settings)
        assert outside_errors(path) == [], settings


def test_the_cli_refuses_an_outside_model_before_loading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_model_exp(tmp_path / "received", model="local:/etc")
    code, _, err = run(["run", str(path)], capsys)
    assert code == 2 and "exp.yaml:3:" in err and "--allow-outside-files" in err
    assert "Traceback" not in err
