"""Damaged files under the harness home: warnings and fresh starts, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from harness._run import cache as cache_module
from harness._run import pipeline
from harness._run.cache import ResponseCache
from harness._run.pipeline import RunOptions, run_experiment
from harness.errors import HarnessError
from harness.experiment import load_experiment
from harness.runs import list_runs
from tests.conftest import MakeExperiment, run_cli
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"
CHECKS = "  assert:\n    - equals: '{{ expected }}'\n"


def garbage_header(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite database " * 200)


def truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "something").write_text("x")


def damaged_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096:8192] = bytes(range(256)) * 16  # page 2: the responses table
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [garbage_header, truncated, directory, damaged_page])
def test_a_damaged_cache_is_moved_aside_and_the_run_continues(
    damage: Callable[[Path], None],
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, home = make_experiment(60), tmp_path / "home"
    args = ["run", str(path), "--home", str(home)]
    assert run_cli(args, capsys)[0] == 0
    cache = home / "cache.sqlite"
    assert cache.stat().st_size > 8192
    damage(cache)
    server.reset_log()
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert "warning: the response cache" in err and "is damaged" in err
    assert "Traceback" not in err
    assert len(list(home.glob("cache.sqlite.damaged-*"))) == 1
    assert server.count(path=CHAT) == 60  # nothing usable was cached
    assert [r.meta()["status"] for r in list_runs(home)] == ["finished", "finished"]
    server.reset_log()
    assert run_cli(args, capsys)[0] == 0  # the fresh cache works
    assert server.count(path=CHAT) == 0


def test_bad_rows_are_misses_and_are_replaced(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, home = make_experiment(8), tmp_path / "home"
    args = ["run", str(path), "--home", str(home)]
    assert run_cli(args, capsys)[0] == 0
    bad = [
        "{not json",
        '{"text": 5}',
        "[1, 2]",
        '{"text": "x", "prompt_tokens": "many"}',
        b"\xff\xfe",
        '{"text": "x", "latency_ms": true}',
    ]
    with sqlite3.connect(home / "cache.sqlite") as db:
        keys = [k for (k,) in db.execute("SELECT key FROM responses ORDER BY key")]
        for key, response in zip(keys, bad, strict=False):
            db.execute("UPDATE responses SET response = ? WHERE key = ?", (response, key))
    db.close()
    server.reset_log()
    code, _, err = run_cli(args, capsys)
    assert code == 0 and "Traceback" not in err, err
    assert server.count(path=CHAT) == len(bad)
    server.reset_log()
    assert run_cli(args, capsys)[0] == 0
    assert server.count(path=CHAT) == 0


def test_damage_found_after_opening_is_handled_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    for i in range(200):
        cache.put(f"k{i:03}", {"text": "answer " * 10})
    cache.close()
    damaged_page(path)
    monkeypatch.setattr(cache_module, "_QUICK_CHECK_MAX_BYTES", 0)  # as for a big cache
    cache = ResponseCache(path)
    assert cache.get_many(f"k{i:03}" for i in range(200)) == {}
    cache.put("k000", {"text": "again"})
    cache.close()
    assert "is damaged" in capsys.readouterr().err
    assert ResponseCache(path).get_many(["k000"])["k000"]["text"] == "again"


def test_damage_that_cannot_be_moved_aside_mid_run_leaves_a_cache_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    for i in range(200):
        cache.put(f"k{i:03}", {"text": "answer " * 10})
    cache.close()
    damaged_page(path)
    monkeypatch.setattr(cache_module, "_QUICK_CHECK_MAX_BYTES", 0)
    cache = ResponseCache(path)

    def refuse(*args: object) -> None:
        raise PermissionError("read-only folder")

    monkeypatch.setattr(os, "replace", refuse)
    assert cache.get_many(f"k{i:03}" for i in range(200)) == {}
    cache.put("k000", {"text": "again"})
    cache.flush()
    assert cache.get_many(["k000"])["k000"]["text"] == "again"
    cache.close()
    assert "could not be replaced: read-only folder" in capsys.readouterr().err


def test_a_cache_that_cannot_be_opened_leaves_no_run_behind(
    make_experiment: MakeExperiment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def unusable(path: Path) -> ResponseCache:
        raise HarnessError(f"cannot open the response cache {path}")

    monkeypatch.setattr(pipeline, "ResponseCache", unusable)
    home = tmp_path / "home"
    for _ in range(2):
        code, _, err = run_cli(["run", str(make_experiment(3)), "--home", str(home)], capsys)
        assert code == 2 and "cannot open the response cache" in err
    assert list_runs(home) == []


def test_an_exception_marks_the_run_failed(
    make_experiment: MakeExperiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline, "check_run", broken)
    options = RunOptions(home=tmp_path / "home", progress=False)
    with pytest.raises(RuntimeError):
        run_experiment(load_experiment(make_experiment(3)), options)
    (run,) = list_runs(tmp_path / "home")
    assert run.meta()["status"] == "failed" and "a bug" in run.meta()["failure"]


def test_show_and_compare_skip_unreadable_result_lines(
    make_experiment: MakeExperiment,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, home = make_experiment(6, extra=CHECKS), str(tmp_path / "home")
    for _ in range(2):
        assert run_cli(["run", str(path), "--home", home, "--no-cache"], capsys)[0] == 0
    older, newer = list_runs(tmp_path / "home")
    results = newer.path / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    wrong_types = json.dumps({**json.loads(lines[1]), "repeat": "0", "checks": [{"x": 1}]})
    bad_check = json.dumps({**json.loads(lines[2]), "checks": [{"name": "equals"}]})
    results.write_text(
        lines[0] + "not json\n" + wrong_types + "\n" + bad_check + "\n" + "".join(lines[3:])
    )
    with results.open("ab") as f:
        f.write(b'{"variant": "p/k0/openai:echo-1", "case": "c9", "rep')  # torn
    code, out, err = run_cli(["show", newer.id, "--home", home], capsys)
    assert code == 0 and "Traceback" not in err
    assert f"warning: run {newer.id}: skipped 4 unreadable lines in results.jsonl" in err
    assert "4 result(s) shown" in out
    code, out, err = run_cli(["compare", older.id, newer.id, "--home", home], capsys)
    assert code == 0 and "4 paired results" in out
    assert f"run {newer.id}: skipped 4" in err and f"run {older.id}" not in err


def test_a_run_record_with_odd_values_does_not_stop_resume(
    make_experiment: MakeExperiment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, home = make_experiment(3), tmp_path / "home"
    assert run_cli(["run", str(path), "--home", str(home)], capsys)[0] == 0
    odd = home / "runs" / "edited"
    shutil.copytree(list_runs(home)[0].path, odd)
    (odd / "run.json").write_text(json.dumps({"started": "yesterday", "status": "running"}))
    code, _, err = run_cli(["run", str(path), "--home", str(home), "--resume"], capsys)
    assert code == 0, err
