"""The CLI: exit codes, FILE:LINE:COL lines on stderr, no tracebacks, JSON output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXPERIMENTS, REPO
from tests.conftest import run_cli as run


def test_validate_shipped_folder(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["validate", str(EXPERIMENTS)], capsys)
    assert code == 0, err
    assert out.count(": ok:") == len(list(EXPERIMENTS.glob("*.yaml")))


def break_copy(tmp_path: Path, name: str, edits: list[tuple[str, str]]) -> Path:
    """A copy of a shipped experiment (with its data and prompts) with textual edits."""
    shutil.copytree(EXPERIMENTS, tmp_path / "experiments")
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    (tmp_path / "harness.toml").write_text("")  # the project root: ../prompts is inside it
    path = tmp_path / "experiments" / name
    text = path.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)
    return path


BROKEN = {
    "date_iso.yaml": [
        ("shots: [0, 1, 3, 8]", "shots: [0, 1, 3, 800]"),
        ("selectors: [random, similar]", "selectors: [random, simlar]"),
        ("  match_on: input", "  match_on: input\n  answr: x"),
        ('user: "{{ input }}"', 'user: "{{ input }} {{ inptu }}"'),
    ],
    "sentiment.yaml": [
        ("style: inline", "style: inlined"),
        ("file: data/sentiment_tests.jsonl", "file: data/missing.jsonl"),
    ],
    "json_extract.yaml": [
        ("is_json: true", "is_jsn: true"),
        ("selectors: [first, similar]", "selectors: [first, balanced]"),
    ],
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_copies_report_every_problem(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = break_copy(tmp_path, name, BROKEN[name])
    code, _, err = run(["validate", str(path)], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) >= len(BROKEN[name]), err
    text = path.read_text().splitlines()
    for line in lines:
        file, lineno, col, *_ = line.split(":", 3)
        assert Path(file).exists() and int(lineno) >= 1 and int(col) >= 1
    for _, new in BROKEN[name]:  # each edit is reported at the line that holds it
        want = next(i for i, t in enumerate(text, 1) if new.splitlines()[-1].strip() in t)
        assert any(f"{name}:{want}:" in line for line in lines) or "missing" in new, (new, err)
    assert "Traceback" not in err


def test_render_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "render",
            str(EXPERIMENTS / "date_iso.yaml"),
            "--variant",
            "terse/k3/random/s0/*",
            "--case",
            "dt001",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    (item,) = json.loads(out)
    assert item["variant"] == "terse/k3/random/s0/local:smollm2"
    roles = [m["role"] for m in item["messages"]]
    assert roles == ["system"] + ["user", "assistant"] * 3 + ["user"]


def test_render_unknown_variant_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["render", str(EXPERIMENTS / "date_iso.yaml"), "--variant", "zzz"], capsys)
    assert code == 2 and "no variant matches zzz" in err


def test_schema_is_committed_and_current(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema"], capsys)
    assert code == 0
    assert json.loads(out) == json.loads((REPO / "experiment.schema.json").read_text())


def test_real_process_exit_code_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: [unclosed\n\x00\xff")
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{bad}:") and "Traceback" not in proc.stderr


def test_bad_command_line_model_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = EXPERIMENTS / "json_extract.yaml"
    code, _, err = run(["run", str(path), "--model", "foo", "--dry-run"], capsys)
    assert code == 2 and "must look like provider:name" in err and "Traceback" not in err
