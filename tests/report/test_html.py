"""The shareable report, read as a file: what it contains, what it refuses to contain."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.home import requests_path
from harness.report.markdown import MAX_CHARS, markdown_summary
from harness.report.run_report import load_run_report
from harness.report.table import table_rows
from harness.run_requests import read_requests
from harness.runs import open_run
from tests.conftest import run_cli
from tests.openai_server import FakeOpenAIServer
from tests.report._runs import HOSTILE, make_run, responder


@pytest.fixture
def scripted() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key="sk-test", responder=responder) as srv:
        yield srv


def _cells(page: str) -> list[list[str]]:
    body = page.split('<table id="table"', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def test_a_run_writes_its_report_and_the_table_is_the_terminal_table(
    tmp_path: Path, scripted: FakeOpenAIServer
) -> None:
    result = make_run(tmp_path, scripted, tmp_path / "home")
    assert result.report_html == result.run_dir / "report.html"
    page = result.report_html.read_text("utf-8")
    _, rows = table_rows(result.summary, plain=True)
    assert _cells(page) == rows
    summary = json.loads((result.run_dir / "summary.json").read_text("utf-8"))
    for cells, variant in zip(_cells(page), summary["variants"], strict=True):
        assert cells[1] == variant["id"]
        assert cells[2].startswith(f"{100 * variant['pass_rate']:.1f}% ")
    assert "<svg" in page and "pass rate vs shots" in page  # two shot counts: a curve


def test_nothing_from_a_run_becomes_markup_and_nothing_is_fetched(
    tmp_path: Path, scripted: FakeOpenAIServer
) -> None:
    result = make_run(tmp_path, scripted, tmp_path / "home")
    page = result.report_html.read_text("utf-8")
    assert HOSTILE in json.dumps([r.output for r in result.results])
    data = page.split('<script type="application/json" id="report-data">', 1)[1]
    data = data.split("</script>", 1)[0]
    assert "<" not in data and json.loads(data)  # inert JSON, no tag can end the block
    outside = page.replace(data, "")
    assert "window.__pwned" not in outside and "<img" not in outside
    assert page.count("<script") == 2  # the data block and the page's own code
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "default-src 'none'" in page


def test_the_messages_sent_are_recorded_with_their_shots(
    tmp_path: Path, scripted: FakeOpenAIServer
) -> None:
    result = make_run(tmp_path, scripted, tmp_path / "home")
    log = read_requests(requests_path(result.run_dir))
    told = next(r for r in result.results if r.variant.startswith("told/k2/") and r.case == "c2")
    assert told.shots == ("ex0", "ex1")
    assert log.messages(told.key) == [
        ("system", "Reply with the code in capitals.", None),
        ("user", "date e0", "ex0"),
        ("assistant", "E0", "ex0"),
        ("user", "date e1", "ex1"),
        ("assistant", "E1", "ex1"),
        ("user", "date c2", None),
    ]
    assert log.params[log.requests[told.key]["p"]] == {"temperature": 0.0, "max_tokens": 8}
    assert log.cases["c2"] == {"id": "c2", "input": "date c2"}
    # each distinct text once, however many requests show it
    assert log.texts.count("Reply with the code in capitals.") == 1


def test_report_command_writes_html_and_markdown_against_an_earlier_run(
    tmp_path: Path, scripted: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    first = make_run(tmp_path, scripted, home)
    scripted.responder = lambda request: "no idea"  # the second run regresses everywhere
    second = make_run(tmp_path, scripted, home, use_cache=False)
    out_file = tmp_path / "shared.html"
    code, out, _ = run_cli(
        [
            "report",
            second.run_id,
            "--against",
            first.run_id,
            "-o",
            str(out_file),
            "--home",
            str(home),
        ],
        capsys,
    )
    assert code == 0 and out.strip() == str(out_file)
    page = out_file.read_text("utf-8")
    assert 'id="against"' in page and "Regressions (" in page
    code, out, _ = run_cli(
        ["report", second.run_id, "--against", first.run_id, "--format", "markdown",
         "--home", str(home)],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert out.startswith("## upper: ") and "| mark | variant | pass rate [95% CI]" in out
    assert f"### Against `{first.run_id}`: " in out and "regression(s)" in out
    assert "<script>" not in out and len(out) <= MAX_CHARS + 1


def test_markdown_stays_under_the_limit_and_escapes_outputs(
    tmp_path: Path, scripted: FakeOpenAIServer
) -> None:
    result = make_run(tmp_path, scripted, tmp_path / "home")
    report = load_run_report(open_run(tmp_path / "home", result.run_id))
    text = markdown_summary(report, max_chars=400)
    assert len(text) <= 400 and text.endswith("(summary shortened; see the full report)")
    full = markdown_summary(report)
    assert "★" in full and "<sub>run `" in full


def test_an_unknown_run_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["report", "nope", "--home", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err


def test_the_markdown_summary_renders_as_tables_with_outputs_as_text(
    tmp_path: Path, scripted: FakeOpenAIServer
) -> None:
    from markdown_it import MarkdownIt

    home = tmp_path / "home"
    first = make_run(tmp_path, scripted, home)
    scripted.responder = lambda request: HOSTILE + " | [link](http://x) `tick` *em*"
    second = make_run(tmp_path, scripted, home, use_cache=False)
    report = load_run_report(open_run(home, second.run_id), against=open_run(home, first.run_id))
    rendered = MarkdownIt("commonmark").enable("table").render(markdown_summary(report))
    tables = re.findall(r"<table>.*?</table>", rendered, re.S)
    assert len(tables) == 3  # the variants, the change per variant, the regressions
    rows = [re.findall(r"<tr>(.*?)</tr>", t, re.S) for t in tables]
    assert report.against is not None and len(report.against.regressions) > 20
    assert [len(t) for t in rows] == [5, 5, 1 + 20]  # the first 20 regressions
    for table in rows:  # every row has its header's number of cells: no pipe broke one
        assert len({len(re.findall(r"<t[dh][ >]", r)) for r in table}) == 1
    assert "<script>" not in rendered and "<a href" not in rendered and "<img" not in rendered
    assert "\ufffd" not in rendered
