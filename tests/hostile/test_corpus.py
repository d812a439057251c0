"""Hostile inputs: every malformed or malicious experiment gives located errors or a clean pass.

Each folder under ``corpus/`` (written by ``make_corpus.py``) is one case: an experiment
(``exp.yaml``, or ``project/exp.yaml`` for path-traversal cases) with its data and template
files, and ``expect.txt``: ``ok``, or ``error REGEX`` with optional ``line N``, ``file NAME``
and ``symlink PATH`` (the case needs that symlink; skipped where the checkout has none).

Every case runs ``harness validate EXP`` and ``harness run EXP --dry-run --home TMP`` with the
working directory at the repository root, all in one child process (``_runner.py``) with
its address space capped and a hard time cap per command; a case that kills the child is
reported as such and the child is restarted for the rest. Per command we assert: exit code 0
or 2, no traceback, no raw control characters, every stderr line a located
``FILE:LINE:COL: error: ...`` problem (or the validate summary), bounded time and memory;
per case, both commands report the same errors and the expectation holds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = HERE / "corpus"
RUNNER = HERE / "_runner.py"
PREFIX = "@@hostile-result "
MARKER = Path("/tmp/harness-hostile-pwned")  # what the corpus's python tags would create
TIME_CAP_S = 10.0  # per command; the child exits when a command runs past it
MEMORY_CAP_MB = 512  # growth of the peak resident set per command
ADDRESS_SPACE = 2_500_000_000  # RLIMIT_AS of the child, bytes

LOCATED = re.compile(r"^[^:\n]+:\d+:\d+: (error|warning|note): ")
ERROR = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.*)$")
SUMMARY = re.compile(r"^[^:\n]+: \d+ errors?$")  # `harness validate`'s last line per file
# Raw terminal control characters from a file must never reach the terminal (ESC sequences
# can retitle, clear or rewrite it); messages should show them escaped.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Expect:
    ok: bool
    pattern: str = ""
    line: int | None = None
    file: str | None = None
    symlinks: tuple[str, ...] = ()


def read_expect(folder: Path) -> Expect:
    lines = (folder / "expect.txt").read_text(encoding="utf-8").splitlines()
    head, _, pattern = lines[0].partition(" ")
    assert head in ("ok", "error"), f"{folder.name}/expect.txt: first line is ok or error"
    extra: dict[str, list[str]] = {}
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        extra.setdefault(key, []).append(value)
    return Expect(
        ok=head == "ok",
        pattern=pattern,
        line=int(extra["line"][0]) if "line" in extra else None,
        file=extra["file"][0] if "file" in extra else None,
        symlinks=tuple(extra.get("symlink", ())),
    )


def experiment_file(folder: Path) -> Path:
    direct = folder / "exp.yaml"
    return direct if direct.exists() or direct.is_symlink() else folder / "project" / "exp.yaml"


CASES = sorted(p for p in CORPUS.iterdir() if (p / "expect.txt").is_file())


def run_cases(cases: list[Path], home: Path) -> dict[str, dict[str, Any]]:
    """All cases through the runner; a case that kills it is recorded and the rest rerun."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(HOSTILE_TIME_CAP=str(TIME_CAP_S), HOSTILE_MEMORY_LIMIT=str(ADDRESS_SPACE))
    results: dict[str, dict[str, Any]] = {}
    pending = list(cases)
    while pending:
        jobs = "".join(
            json.dumps(
                {
                    "case": c.name,
                    "exp": experiment_file(c).relative_to(REPO).as_posix(),
                    "home": str(home),
                }
            )
            + "\n"
            for c in pending
        )
        with (
            tempfile.TemporaryFile("w+") as stdin,
            tempfile.TemporaryFile("w+", errors="replace") as stderr,
        ):
            stdin.write(jobs)
            stdin.seek(0)
            proc = subprocess.run(
                [sys.executable, str(RUNNER)],
                cwd=REPO, env=env, stdin=stdin, stderr=stderr, stdout=subprocess.PIPE,
                text=True, errors="replace", timeout=60 + 2 * TIME_CAP_S * len(pending),
            )  # fmt: skip
            stderr.seek(0)
            child_err = stderr.read()
        for line in proc.stdout.splitlines():
            if line.startswith(PREFIX):
                result = json.loads(line[len(PREFIX) :])
                results[result["case"]] = result
        pending = [c for c in pending if c.name not in results]
        if pending:  # the child died while running pending[0]
            results[pending[0].name] = {"died": proc.returncode, "stderr": child_err[-8000:]}
            pending = pending[1:]
    return results


@pytest.fixture(scope="session")
def corpus_results(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Results of the selected cases (all of them unless -k narrows the run)."""
    params = [
        getattr(getattr(item, "callspec", None), "params", {}) for item in request.session.items
    ]
    selected = {p["folder"] for p in params if "folder" in p}
    MARKER.unlink(missing_ok=True)
    return run_cases(sorted(selected) or CASES, tmp_path_factory.mktemp("hostile-home"))


def errors(result: dict[str, Any]) -> list[re.Match[str]]:
    return [m for m in map(ERROR.match, result["err"].splitlines()) if m]


def shown(result: dict[str, Any]) -> str:
    text = (
        f"exit {result['code']}, {result['seconds']} s, {result['memory_mb']} MB\n"
        f"--- stdout\n{result['out'][:3000]}--- stderr\n{result['err'][:3000]}"
    )
    return CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


def check_command(label: str, result: dict[str, Any]) -> None:
    text = result["out"] + result["err"]
    assert result["code"] in (0, 2), f"{label}: exit code must be 0 or 2; {shown(result)}"
    assert "Traceback" not in text, f"{label}: traceback; {shown(result)}"
    control = sorted(set(CONTROL.findall(text)))
    assert not control, f"{label}: raw control characters {control} in output; {shown(result)}"
    assert result["seconds"] < TIME_CAP_S, f"{label}: too slow; {shown(result)}"
    assert result["memory_mb"] < MEMORY_CAP_MB, f"{label}: too much memory; {shown(result)}"
    if result["code"] == 2:
        unlocated = [
            line
            for line in result["err"].splitlines()
            if line.strip() and not LOCATED.match(line) and not SUMMARY.match(line)
        ]
        assert not unlocated, f"{label}: lines without FILE:LINE:COL; {shown(result)}"
        assert errors(result), f"{label}: exit 2 without a located error; {shown(result)}"


@pytest.mark.parametrize("folder", CASES, ids=[c.name for c in CASES])
def test_case(folder: Path, corpus_results: dict[str, dict[str, Any]]) -> None:
    expect = read_expect(folder)
    missing = [s for s in expect.symlinks if not (folder / s).is_symlink()]
    if missing:
        pytest.skip(f"needs symlinks this checkout lacks: {', '.join(missing)}")
    result = corpus_results[folder.name]
    assert "died" not in result, (
        f"the runner process died on this case (exit {result['died']}):\n{result['stderr']}"
    )
    validate, dry_run = result["validate"], result["run"]
    check_command("validate", validate)
    check_command("run --dry-run", dry_run)
    if expect.ok:
        assert validate["code"] == 0, f"validate should pass; {shown(validate)}"
        assert dry_run["code"] == 0, f"run --dry-run should pass; {shown(dry_run)}"
        return
    assert validate["code"] == 2, f"validate should fail; {shown(validate)}"
    assert dry_run["code"] == 2, f"run --dry-run should fail; {shown(dry_run)}"
    assert [m.group(0) for m in errors(validate)] == [m.group(0) for m in errors(dry_run)], (
        f"validate and run --dry-run report different errors:\n{shown(validate)}\n{shown(dry_run)}"
    )
    matching = [m for m in errors(validate) if re.search(expect.pattern, m["message"])]
    assert matching, f"no error matches {expect.pattern!r}; {shown(validate)}"
    if expect.line is not None or expect.file is not None:
        located = [
            m
            for m in matching
            if (expect.line is None or int(m["line"]) == expect.line)
            and (expect.file is None or m["file"].replace("\\", "/").endswith(expect.file))
        ]
        where = f"{expect.file or '(any file)'}:{expect.line or '(any line)'}"
        assert located, f"no error matching {expect.pattern!r} at {where}; {shown(validate)}"


def test_corpus_size() -> None:
    assert len(CASES) >= 110


def test_no_code_ran(corpus_results: dict[str, dict[str, Any]]) -> None:
    """The `!!python/...` tags in the corpus would create MARKER if anything executed them."""
    assert corpus_results
    assert not MARKER.exists(), f"a YAML python tag was executed: {MARKER} exists"
