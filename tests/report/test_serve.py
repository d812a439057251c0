"""`harness view`: a real server on a free port, read with urllib."""

from __future__ import annotations

import dataclasses
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

import harness
from harness.errors import HarnessError
from harness.report.serve import make_server
from harness.runs import RunDir, list_runs
from tests.conftest import MakeExperiment

CHECKS = '  assert:\n    - equals: "{{ expected }}"\n'


@pytest.fixture
def home(make_experiment: MakeExperiment, tmp_path: Path) -> Path:
    """A home with two finished runs of the same experiment."""
    path = make_experiment(4, extra=CHECKS)
    home = tmp_path / "home"
    for _ in range(2):
        harness.run(path, home=home, use_cache=False, progress=False)
    return home


@pytest.fixture
def base(home: Path) -> Iterator[str]:
    server = make_server(home, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def get(url: str, method: str = "GET") -> tuple[int, str, Message]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8"), response.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode("utf-8"), exc.headers


def test_index_lists_runs(home: Path, base: str) -> None:
    status, page, headers = get(base + "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    runs = list_runs(home)
    assert len(runs) == 2
    for run in runs:
        assert f"href='/runs/{run.id}'" in page
    assert page.index(runs[1].id) < page.index(runs[0].id)  # newest first
    assert page.count("finished") == 2 and page.count("100.0%") == 2
    best = runs[0].meta()["best"]
    assert best and best in page and ">echo<" in page
    assert "action='/compare'" in page and "name='a'" in page and "name='b'" in page


def test_run_report_and_compare(home: Path, base: str) -> None:
    old, new = (r.id for r in list_runs(home))
    status, page, _ = get(f"{base}/runs/{new}")
    assert status == 200 and new in page and '<table id="table"' in page
    assert 'id="against"' not in page
    status, page, _ = get(f"{base}/compare?a={old}&b={new}")
    assert status == 200 and 'id="against"' in page and old in page
    status, _, headers = get(f"{base}/runs/{new}", method="HEAD")
    assert status == 200 and int(headers["Content-Length"]) > 0


def test_refusals(home: Path, base: str) -> None:
    run_id = list_runs(home)[0].id
    for path in (
        "/runs/nope",
        "/runs/..%2F..%2Fetc",
        "/runs/../../etc/passwd",
        "/runs/..",
        "/runs/",
        "/elsewhere",
        f"/compare?a=..%2Fx&b={run_id}",
        f"/compare?a=nope&b={run_id}",
    ):
        status, page, headers = get(base + path)
        assert status == 404, path
        assert "Content-Security-Policy" in headers and "<h1>Not found</h1>" in page
    assert get(f"{base}/runs/<script>")[0] == 404
    assert get(f"{base}/compare?a={run_id}")[0] == 400
    status, _, headers = get(base + "/", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert "Content-Security-Policy" in headers
    assert get(base + "/", method="FOO")[0] == 405  # not http.server's 501


def test_reload_shows_current_state(home: Path, base: str) -> None:
    run = list_runs(home)[-1]
    page = get(f"{base}/runs/{run.id}")[1]
    assert "<dd>finished</dd>" in page and "100.0%" in page and "75.0%" not in page
    results = list(run.results())
    run.write_results([dataclasses.replace(results[0], passed=False), *results[1:]])
    run.update(status="interrupted")
    page = get(f"{base}/runs/{run.id}")[1]
    assert "<dd>interrupted</dd>" in page and "75.0%" in page
    row = get(base + "/")[1].split(f">{run.id}</a>")[1].split("</tr>")[0]
    assert "interrupted" in row and "finished" not in row


def test_unreadable_and_hostile_runs(home: Path, base: str) -> None:
    newer, other = list_runs(home)
    newer.update(schema_version=999)
    other.update(experiment="<b>x</b>")
    status, page, _ = get(base + "/")
    assert status == 200 and "unreadable: run " in page and "upgrade harness" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    status, page, _ = get(f"{base}/runs/{newer.id}")
    assert status == 404 and "upgrade harness" in page
    assert RunDir(newer.path).meta()["schema_version"] == 999  # serving wrote nothing


def test_binds_loopback_by_default(tmp_path: Path) -> None:
    with make_server(tmp_path, port=0) as server:
        assert server.server_address[0] == "127.0.0.1"
        with pytest.raises(HarnessError, match="cannot serve on 127.0.0.1"):
            make_server(tmp_path, port=server.server_address[1])


def test_render_failure_is_500_without_traceback(
    home: Path, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.report.html

    def broken(report: object) -> str:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(harness.report.html, "render_html", broken)
    status, page, _ = get(f"{base}/runs/{list_runs(home)[0].id}")
    assert status == 500 and "secret detail" not in page and "Traceback" not in page


def test_serve_runs_logs_url_and_stops_on_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from http.server import ThreadingHTTPServer

    from harness.report.serve import serve_runs

    def interrupted(self: ThreadingHTTPServer, poll_interval: float = 0.5) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", interrupted)
    lines: list[str] = []
    serve_runs(tmp_path, host="127.0.0.1", port=0, log=lines.append)
    assert lines[0].startswith("harness view: http://127.0.0.1:")
    assert lines[0].endswith("/ (Ctrl-C stops)") and ":0/" not in lines[0]


def test_an_interrupted_run_is_resumable_and_a_locked_one_running(home: Path, base: str) -> None:
    from harness._lock import RunLock

    older, newer = list_runs(home)
    older.update(status="running")  # as a killed run leaves it
    newer.update(status="running")
    with RunLock.acquire(newer.path):  # a process works on it
        _, page, _ = get(base + "/")
    rows = {run.id: page.split(f">{run.id}</a>")[1].split("</tr>")[0] for run in (older, newer)}
    assert "resumable" in rows[older.id] and ">running<" in rows[newer.id]
    assert RunLock.is_held(newer.path) is False  # released: the next look says resumable
