"""The pytest plugin, driven through pytester against a real local model server."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# In-process pytester runs restore sys.modules afterwards; compiled modules (numpy, scipy)
# cannot be imported twice, so the pipeline is imported once here, up front.
import harness._run.pipeline  # noqa: F401
import harness.testing  # noqa: F401
from tests.openai_server import FakeOpenAIServer

pytest_plugins = ["pytester"]
CHAT = "/v1/chat/completions"


def experiment(server: FakeOpenAIServer, *, threshold: float = 0.9, cases: int = 6) -> str:
    items = "\n".join(
        f'    - {{id: c{i}, input: "question {i}", expected: "echo: question {i}"}}'
        for i in range(cases)
    )
    return (
        textwrap.dedent(f"""\
        name: echo-suite
        models:
          - id: openai:echo-1
            base_url: {server.base_url}
            api_key: sk-test
        prompts:
          - {{id: p1, user: "{{{{ input }}}}"}}
          - {{id: p2, system: "Be brief.", user: "{{{{ input }}}}"}}
        min_pass_rate: {threshold}
        tests:
          assert:
            - equals: "{{{{ expected }}}}"
          items:
        """)
        + items
        + "\n"
    )


@pytest.fixture
def suite(pytester: pytest.Pytester, server: FakeOpenAIServer, tmp_path: Path) -> pytest.Pytester:
    pytester.makefile(".yaml", echo=experiment(server))
    pytester.makefile(".yaml", notes="just: a yaml file\nthat: is not an experiment\n")
    pytester.makeini(
        f"[pytest]\naddopts = --harness-home={tmp_path / 'home'} -p no:cacheprovider\n"
    )
    return pytester


def test_passing_suite_runs_once(suite: pytest.Pytester, server: FakeOpenAIServer) -> None:
    result = suite.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*echo.yaml::p1/k0/openai:echo-1 PASSED*", "*echo.yaml::p2/k0/openai:echo-1 PASSED*"]
    )
    assert server.count(path=CHAT) == 12  # one shared run: 2 variants x 6 cases


def test_failing_suite_reports_cases(suite: pytest.Pytester, server: FakeOpenAIServer) -> None:
    server.responder = lambda body: (
        "wrong"
        if body["messages"][-1]["content"] in ("question 1", "question 4")
        else "echo: " + body["messages"][-1]["content"]
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*p1/k0/openai:echo-1: pass rate below min_pass_rate 90.0%",
            "*pass rate 66.7% *95% CI * over 6 cases; 2 failed",
            "*case c1:*",
            "*input:  'question 1'",
            "*output: 'wrong'",
            "*✗ equals: expected 'echo: question 1', got 'wrong'",
            "*harness show * --failures*",
        ]
    )


def test_strict_uses_the_interval(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--harness-strict")  # 6/6 passes: lower bound 61% < 90%
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*lower bound of the 95% interval below min_pass_rate*"])


def test_keyword_selects_variants_and_only_those_run(
    suite: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    result = suite.runpytest("-k", "p2 and k0")
    result.assert_outcomes(passed=1, deselected=1)
    assert server.count(path=CHAT) == 6


def test_per_case_items(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--harness-per-case", "-k", "p1")
    result.assert_outcomes(passed=6, deselected=6)


def test_junit_xml(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--junitxml=report.xml")
    result.assert_outcomes(passed=2)
    xml = (suite.path / "report.xml").read_text()
    assert 'name="p1/k0/openai:echo-1"' in xml and "pass_rate" in xml


def test_request_errors_fail_with_a_distinct_message(
    suite: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    server.set_fault_rate(1.0, kinds=["400"])
    result = suite.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*could not be scored (request or check errors, not check failures)*"]
    )


def test_invalid_experiment_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bad="name: x\nprompts: [{id: p, usr: hi}]\ntests: {items: []}\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*bad.yaml:2:*unknown key 'usr'*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_fixture_api(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_api="""
        def test_code(harness_run):
            result = harness_run("echo.yaml", variants="p2/*")
            assert result.variants == ["p2/k0/openai:echo-1"]
            assert result.variant("p2/*").pass_rate == 1.0
            assert result.best.errors == 0
    """
    )
    result = suite.runpytest("test_api.py")
    result.assert_outcomes(passed=1)


def test_a_split_suite_judges_the_winner_on_held_out_cases(
    pytester: pytest.Pytester, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    # p1 passes every case; p2 fails the 12 odd ones, so dev separates them: p2 is judged
    # on its dev number, p1 (the winner) on held-out cases only
    text = experiment(server, threshold=0.9, cases=24).replace(
        '{id: p2, system: "Be brief.", user: "{{ input }}"}',
        '{id: p2, user: "{{ alt }}"}',
    )
    items = "\n".join(
        f'    - {{id: c{i}, input: "question {i}", alt: "{"x" if i % 2 else "question"} {i}",'
        f' expected: "echo: question {i}"}}'
        for i in range(24)
    )
    text = text.split("  items:\n")[0] + "  split: {dev: 0.5}\n  items:\n" + items + "\n"
    pytester.makefile(".yaml", echo=text)
    pytester.makeini(f"[pytest]\naddopts = --harness-home={tmp_path / 'home'}\n")
    result = pytester.runpytest("-v", "--junitxml=out.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*p2/k0/openai:echo-1: pass rate below min_pass_rate 90.0%*"])
    result.stdout.fnmatch_lines(["*over 12 dev (selection) cases*"])
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="split" value="heldout"' in xml and 'name="split" value="dev"' in xml
