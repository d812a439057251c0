"""The report in a real headless Chromium (Debian's, driven by Playwright).

Every test opens the report of a real run (against the tests' OpenAI-compatible server)
from ``file://`` with every network request intercepted: one attempted request fails the
test. Without a browser these tests skip with the reason, except under ``CI=true``, where
a missing browser is a failure (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.report.summary import case_scores
from harness.stats import paired_comparison
from tests.openai_server import FakeOpenAIServer
from tests.report._runs import HOSTILE, make_run, responder

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails under CI) with the reason
    expect = None

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(run: Any) -> Iterator[Any]:
    """Started after the run: Playwright's sync API holds an event loop in this thread."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the machine
        _missing("playwright is not installed (pip install -e '.[dev]')")
    executable = _chromium()
    if executable is None:
        _missing("no chromium found (apt-get install chromium)")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("browser-run")
    with FakeOpenAIServer(api_key="sk-test", responder=responder) as server:
        return make_run(folder, server, folder / "home")


class Page:
    """A report page with its console errors and the requests it attempted."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def guard(route: Any) -> None:
            url = route.request.url
            if url == path.as_uri():
                route.continue_()
            else:
                self.requests.append(url)
                route.abort()

        self.page.route("**/*", guard)
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("#case-list details")

    def texts(self, selector: str) -> list[str]:
        return [str(t) for t in self.page.locator(selector).all_inner_texts()]

    def close(self) -> None:
        assert self.errors == [] and self.requests == []
        self.page.close()


@pytest.fixture
def page(browser: Any, run: Any) -> Iterator[Page]:
    opened = Page(browser, run.report_html)
    yield opened
    opened.close()


def test_the_table_shows_the_json_numbers_and_sorts(page: Page, run: Any) -> None:
    import json

    summary = json.loads((run.run_dir / "summary.json").read_text("utf-8"))
    rows = page.page.locator("#table tbody tr")
    assert rows.count() == len(summary["variants"])
    for i, variant in enumerate(summary["variants"]):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert cells[1] == variant["id"]
        assert cells[2].startswith(f"{100 * variant['pass_rate']:.1f}% ")
        assert cells[-4] == str(variant["errors"])
    page.page.click("#table th[data-col='2']")  # pass rate: descending first
    rates = [float(t.split("%")[0]) for t in page.texts("#table tbody tr td:nth-child(3)")]
    assert rates == sorted(rates, reverse=True)
    page.page.click("#table th[data-col='2']")
    rates = [float(t.split("%")[0]) for t in page.texts("#table tbody tr td:nth-child(3)")]
    assert rates == sorted(rates)
    page.page.click("#table th[data-col='1']")  # by variant id
    ids = page.texts("#table tbody tr td:nth-child(2)")
    assert ids == sorted(ids, reverse=True)


def _shown(page: Page) -> list[str]:
    return [str(x) for x in page.page.locator("#case-list details").evaluate_all(
        "nodes => nodes.map(n => n.dataset.case + ':' + n.dataset.status)"
    )]  # fmt: skip


def test_every_filter(page: Page, run: Any) -> None:
    variant = "plain/k0/openai:echo-1"
    mine = [r for r in run.results if r.variant == variant]
    page.page.select_option("#variant", label=variant)
    assert len(_shown(page)) == len(mine)
    page.page.select_option("#status", "fail")
    failed = sorted(f"{r.case}:fail" for r in mine if r.passed is False and r.error is None)
    assert sorted(_shown(page)) == failed and failed
    assert page.page.inner_text("#count") == f"{len(failed)} of {len(mine)} results"
    page.page.select_option("#status", "error")
    assert _shown(page) == []
    page.page.select_option("#status", "all")
    page.page.select_option("#check", label="not_contains")
    page.page.select_option("#status", "fail")
    idea = sorted(f"{r.case}:fail" for r in mine if any(
        c.name == "not_contains" and not c.passed for c in r.checks))  # fmt: skip
    assert sorted(_shown(page)) == idea and idea
    page.page.select_option("#status", "all")
    page.page.select_option("#check", "")
    page.page.fill("#search", "c1")  # c1, c10..c19
    expect(page.page.locator("#count")).to_have_text(re.compile(r"^11 of "))
    assert sorted(s.split(":")[0] for s in _shown(page)) == sorted(
        ["c1"] + [f"c1{i}" for i in range(10)]
    )


def test_a_case_shows_exactly_the_messages_sent_with_its_shots(page: Page) -> None:
    page.page.select_option("#variant", label="told/k2/first/openai:echo-1")
    case = page.page.locator("#case-list details[data-case='c2']")
    case.locator("summary").click()
    case.locator(".msg").first.wait_for()
    roles = case.locator(".msg .role").all_inner_texts()
    assert roles == [
        "system",
        "user · shot ex0",
        "assistant · shot ex0",
        "user · shot ex1",
        "assistant · shot ex1",
        "user",
    ]
    contents = case.locator(".msg .content").all_inner_texts()
    assert contents == [
        "Reply with the code in capitals.",
        "date e0",
        "E0",
        "date e1",
        "E1",
        "date c2",
    ]
    assert case.locator(".msg.shot").count() == 4
    assert '"max_tokens":8' in case.locator(".params").inner_text()
    assert "equals: pass" in case.locator(".checks").inner_text()


def test_the_two_variant_view_counts_what_the_paired_statistics_count(page: Page, run: Any) -> None:
    a, b = "told/k2/first/openai:echo-1", "plain/k0/openai:echo-1"
    page.page.select_option("#pair-a", label=a)
    page.page.select_option("#pair-b", label=b)
    means = {
        v: {c: sum(s) / len(s) for c, s in cases.items()}
        for v, cases in case_scores(run.results).items()
    }
    paired = paired_comparison(means[a], means[b])
    summary = page.page.locator("#pair-summary")
    assert int(summary.get_attribute("data-a-only")) == paired.a_only > 0
    assert int(summary.get_attribute("data-b-only")) == paired.b_only
    assert float(summary.get_attribute("data-p")) == pytest.approx(paired.p_value)
    shown = page.page.locator("#pair-cases .pair[data-case]").count()
    assert shown == paired.a_only + paired.b_only


def test_hostile_output_shows_as_text_and_runs_nothing(page: Page) -> None:
    page.page.select_option("#variant", label="plain/k0/openai:echo-1")
    page.page.fill("#search", "pwned")
    expect(page.page.locator("#count")).to_have_text(re.compile(r"^1 of "))
    case = page.page.locator("#case-list details[data-case='c7']")
    assert HOSTILE in case.locator(".snippet").inner_text()
    case.locator("summary").click()
    case.locator("pre.out").nth(1).wait_for()
    assert HOSTILE in case.locator("pre.out").nth(1).inner_text()
    assert page.page.evaluate("window.__pwned") is None
    assert page.page.locator("#case-list img, #case-list script").count() == 0


def test_screenshot_for_a_reader(page: Page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
    page.page.screenshot(path=str(ARTIFACTS / "report-full.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_the_summary_works_without_javascript(browser: Any, run: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(run.report_html.as_uri())
        assert page.locator("#table tbody tr").count() == len(run.summary.variants)
        assert page.locator("svg.curve").count() == 1
        assert "★" in page.inner_text(".verdict")
    finally:
        context.close()
