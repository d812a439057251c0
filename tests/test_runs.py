"""Run records: result lines written and read back, and the record format's version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness._lock import RunLock
from harness._run.journal import Journal
from harness.errors import HarnessError
from harness.home import journal_path, results_path, run_meta_path
from harness.results import CheckOutcome, Result
from harness.run_records import (
    RECORD_VERSION,
    parse_result,
    read_journal,
    read_results,
    record_version,
    result_line,
)
from harness.runs import RunDir, list_runs, new_run, open_run, resume_run
from tests.conftest import run_cli

RESULTS = [
    Result("p/k0/openai:m", "c0", 0, "key0", "echo: héllo ⏎", prompt_tokens=3, cost=0.5),
    Result(
        "p/k2/openai:m",
        "c1",
        1,
        "key1",
        None,
        error="HTTP 500",
        latency_ms=12.5,
        cached=True,
        shots=("s1", "s2"),
        passed=False,
        score=0.25,
        checks=(CheckOutcome("equals", False, reason="expected 'x'", score=0.0),),
    ),
]


def a_run(tmp_path: Path) -> RunDir:
    source = tmp_path / "exp.yaml"
    source.write_text("name: exp\n")
    run, lock = new_run(tmp_path / "home", "exp", source, source.read_text(), {"variants": []})
    lock.release()
    return run


def set_meta(run: RunDir, **values: object) -> None:
    meta = {k: v for k, v in run.meta().items() if k not in values or values[k] is not None}
    meta.update({k: v for k, v in values.items() if v is not None})
    run_meta_path(run.path).write_text(json.dumps(meta))


def test_the_journal_reads_back_what_it_wrote(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "run")
    journal = Journal(path)
    journal.append(RESULTS[0])
    journal.append_many(RESULTS[1:])
    journal.close()
    assert read_results(path) == (RESULTS, 0)
    found, skipped = read_journal(path)
    assert list(found.values()) == RESULTS and skipped == 0
    assert found[("p/k2/openai:m", "c1", 1)] == RESULTS[1]


def test_final_results_read_back_as_written(tmp_path: Path) -> None:
    run = a_run(tmp_path)
    run.write_results(RESULTS)
    assert results_path(run.path).read_bytes() == b"".join(result_line(r) for r in RESULTS)
    read = run.results()
    assert list(read) == RESULTS and read.skipped == 0 and read.source == "results.jsonl"


def test_a_line_is_one_result(tmp_path: Path) -> None:
    for result in RESULTS:
        line = result_line(result)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert parse_result(line) == result
    assert parse_result(result_line(RESULTS[0])[:-9]) is None  # torn


def test_a_new_run_records_its_format(tmp_path: Path) -> None:
    run = a_run(tmp_path)
    assert run.meta()["schema_version"] == RECORD_VERSION == 1
    assert run.record_version() == 1


def test_a_run_without_a_version_is_version_1(tmp_path: Path) -> None:
    run = a_run(tmp_path)
    Journal(run.journal_path).append_many(RESULTS)
    set_meta(run, schema_version=None)
    assert "schema_version" not in run.meta()
    assert record_version(run.meta(), run.id) == 1
    assert open_run(tmp_path / "home", run.id) == run
    assert list(run.results()) == RESULTS
    resumed = resume_run(tmp_path / "home", tmp_path / "exp.yaml", keep_errors=True)
    assert resumed is not None
    resumed[1].release()
    assert list(resumed[2].values()) == RESULTS
    assert "schema_version" not in run.meta()  # resuming does not rewrite the format


def test_a_run_from_a_newer_harness_is_refused_cleanly(tmp_path: Path) -> None:
    run = a_run(tmp_path)
    set_meta(run, schema_version=2)
    expected = f"run {run.id} uses record format 2; this harness reads up to 1: upgrade harness"
    with pytest.raises(HarnessError, match="upgrade harness") as info:
        open_run(tmp_path / "home", run.id)
    assert str(info.value) == expected
    with pytest.raises(HarnessError, match="record format 2"):
        run.results()
    with pytest.raises(HarnessError, match="record format 2"):
        resume_run(tmp_path / "home", tmp_path / "exp.yaml")
    RunLock.acquire(run.path).release()  # refused before it was claimed
    assert run.meta()["schema_version"] == 2 and run.meta()["status"] == "running"
    assert list_runs(tmp_path / "home") == [run]  # still listed


@pytest.mark.parametrize("odd", ["2", 0, True, 1.5, [1]])
def test_a_version_that_is_not_a_format_is_refused(odd: object) -> None:
    with pytest.raises(HarnessError, match="unknown record format"):
        record_version({"schema_version": odd}, "r")


def test_the_cli_says_why_it_cannot_show_a_newer_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = a_run(tmp_path)
    set_meta(run, schema_version=7)
    home = str(tmp_path / "home")
    code, _, err = run_cli(["show", run.id, "--home", home], capsys)
    assert code != 0 and "Traceback" not in err
    assert f"error: run {run.id} uses record format 7; this harness reads up to 1" in err
    code, out, _ = run_cli(["runs", "--home", home], capsys)
    assert code == 0 and run.id in out
