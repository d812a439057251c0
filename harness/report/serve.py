"""``harness view``: browse a home's runs, their reports and comparisons, in a browser.

The report files are static, so a report written when a run ended goes stale while a
resumed run writes on. This server renders each report on request from the run's folder
(reload shows the run as it is now) and offers the list of runs and a form to compare two.
It is a small standard-library server and deliberately read-only: GET and HEAD only, run ids
from URLs checked against what run ids can be (no path tricks), every run-derived string
escaped, and a Content Security Policy that lets pages fetch nothing. Prompts and outputs
are private, so it binds the loopback interface unless told otherwise.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import re
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness._lock import RunLock
from harness.errors import HarnessError
from harness.home import harness_home, summary_path
from harness.runs import RunDir, list_runs, open_run

__all__ = ["make_server", "serve_runs"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; form-action 'self'"
)
_RUN_ID = re.compile(r"[A-Za-z0-9._-]+")
_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}.mono{font-family:monospace}"
)
_e = html.escape


class _Server(ThreadingHTTPServer):
    def __init__(self, root: Path, host: str, port: int) -> None:
        self.root = root
        self.log: Callable[[str], None] = lambda line: None
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "harness-view"

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _refuse(self) -> None:
        self._send(405, _page("405", "Only GET and HEAD: this server is read-only."), True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code == 501:  # http.server's answer to a method without a do_ handler
            self._refuse()
        else:
            super().send_error(code, message, explain)

    def end_headers(self) -> None:  # every response, send_error's included
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request; rendering failures go to the server's log

    def _serve(self, body: bool) -> None:
        url = urlsplit(self.path)
        try:
            status, page = self._route(url.path, parse_qs(url.query))
        except HarnessError as exc:
            status, page = 404, _page("Not found", str(exc))
        except Exception as exc:  # a damaged run must not take the server down
            self.server.log(f"harness view: error on {url.path}: {type(exc).__name__}: {exc}")
            status, page = 500, _page("Error", "The page could not be rendered; see the log.")
        self._send(status, page, body)

    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, str]:
        from harness.report.html import render_html
        from harness.report.run_report import load_run_report

        root = self.server.root
        if path == "/":
            return 200, _index(root)
        if path.startswith("/runs/") and _valid(path[len("/runs/") :]):
            run = open_run(root, path[len("/runs/") :])
            return 200, render_html(load_run_report(run, home=root))
        if path == "/compare":
            a, b = (query.get(k, [""])[0] for k in ("a", "b"))
            if not a or not b:
                return 400, _page("Bad request", "Compare needs two runs: ?a=EARLIER&b=LATER.")
            if not _valid(a) or not _valid(b):
                return 404, _page("Not found", "No such run.")
            before, after = open_run(root, a), open_run(root, b)
            return 200, render_html(load_run_report(after, against=before, home=root))
        return 404, _page("Not found", f"Nothing at {path}.")

    def _send(self, status: int, page: str, body: bool) -> None:
        data = page.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if status == 405:
            self.send_header("Allow", "GET, HEAD")
        self.end_headers()
        if body:
            self.wfile.write(data)


def _valid(run_id: str) -> bool:
    return bool(_RUN_ID.fullmatch(run_id)) and set(run_id) != {"."}


def _page(title: str, message: str) -> str:
    return _document(title, f"<h1>{_e(title)}</h1><p>{_e(message)}</p><p><a href='/'>runs</a></p>")


def _document(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _date(meta: dict[str, Any]) -> str:
    started = meta.get("started")
    if isinstance(started, bool) or not isinstance(started, int | float):
        return "—"
    try:
        return _dt.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return "—"


def _pass_rate(run: RunDir, best: str) -> str:
    try:
        summary = json.loads(summary_path(run.path).read_text("utf-8"))
        rate = next(v["pass_rate"] for v in summary["variants"] if v["id"] == best)
    except (OSError, ValueError, TypeError, KeyError, StopIteration):
        return "—"
    ok = isinstance(rate, int | float) and not isinstance(rate, bool) and math.isfinite(rate)
    return f"{100 * rate:.1f}%" if ok else "—"


def _row(run: RunDir) -> str:
    meta = run.meta()
    try:
        run.record_version()
        status = str(meta.get("status") or "unknown")
        if status == "running":
            status = "running" if RunLock.is_held(run.path) else "resumable"
    except HarnessError as exc:
        status = f"unreadable: {exc}"
    best = meta.get("best")
    best_text = str(best) if best else "—"
    rate = _pass_rate(run, str(best)) if best else "—"
    cells = [
        f"<a href='/runs/{_e(run.id)}'>{_e(run.id)}</a>",
        _e(str(meta.get("experiment") or "—")),
        _date(meta),
        f"<span class='mono'>{_e(best_text)}</span>",
        rate,
        _e(status),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _index(root: Path) -> str:
    runs = list(reversed(list_runs(root)))  # newest first
    if not runs:
        return _document("harness runs", f"<h1>Runs</h1><p>No runs under {_e(str(root))}.</p>")
    heads = ("run", "experiment", "started", "best variant", "pass rate", "status")
    table = "<table><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"
    table += "".join(_row(r) for r in runs) + "</table>"
    form = ""
    if len(runs) > 1:

        def select(name: str, chosen: int) -> str:
            options = "".join(
                f"<option value='{_e(r.id)}'{' selected' * (i == chosen)}>{_e(r.id)}</option>"
                for i, r in enumerate(runs)
            )
            return f"<select name='{name}'>{options}</select>"

        form = (
            "<h2>Compare two runs</h2><form method='get' action='/compare'>"
            f"<label>earlier {select('a', 1)}</label> <label>later {select('b', 0)}</label> "
            "<button type='submit'>compare</button></form>"
        )
    return _document("harness runs", f"<h1>Runs in {_e(str(root))}</h1>{table}{form}")


def make_server(
    home: Path | None, *, host: str = "127.0.0.1", port: int = 8765
) -> ThreadingHTTPServer:
    """A server for the runs of ``home`` bound to ``host:port`` (port 0: any free port)."""
    root = harness_home(home)
    try:
        return _Server(root, host, port)
    except OSError as exc:
        raise HarnessError(f"cannot serve on {host}:{port}: {exc}") from exc


def serve_runs(home: Path | None, *, host: str, port: int, log: Callable[[str], None]) -> None:
    """Serve the runs of ``home`` until Ctrl-C."""
    server = make_server(home, host=host, port=port)
    assert isinstance(server, _Server)
    server.log = log
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    log(f"harness view: http://{shown}:{bound}/ (Ctrl-C stops)")
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log("harness view: stopped")
