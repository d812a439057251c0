"""``harness import promptfoo`` on real promptfoo examples (tests/importers/fixtures/promptfoo,
MIT, from promptfoo/promptfoo; see the README there): the import validates, warns where it
must (located), and passes or fails every case exactly as promptfoo's rules decide. The
oracle below is written from promptfoo's source; SEMANTICS.md cites each rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import harness
from harness.experiment import load_experiment
from harness.importers import import_suite
from tests.conftest import run_cli
from tests.importers._server import use_server
from tests.openai_server import FakeOpenAIServer
from tests.openai_server.chat import last_user_text

FIXTURES = Path(__file__).parent / "fixtures" / "promptfoo"

# (example, cases, prompts imported, prompts not, checks imported, checks not, warnings)
EXAMPLES = [
    ("simple-csv", 4, 1, 1, 4, 0, 1),
    ("simple-test", 5, 2, 0, 6, 2, 3),
    ("eval-customer-support-rubric", 8, 1, 0, 5, 0, 6),
]


@pytest.mark.parametrize(
    ("example", "cases", "prompts", "lost", "checks", "dropped", "warns"), EXAMPLES
)
def test_real_examples_import_and_validate(
    tmp_path: Path,
    example: str,
    cases: int,
    prompts: int,
    lost: int,
    checks: int,
    dropped: int,
    warns: int,
) -> None:
    suite, path = import_suite("promptfoo", FIXTURES / example / "promptfooconfig.yaml", tmp_path)
    assert suite.imported["cases"] == cases
    assert (suite.imported["prompts"], suite.skipped["prompts"]) == (prompts, lost)
    assert (suite.imported["checks"], suite.skipped["checks"]) == (checks, dropped)
    assert len(suite.problems) == warns
    assert all(p.location.line and p.location.col for p in suite.problems)
    load_experiment(path)


def test_warnings_are_located_in_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = FIXTURES / "simple-test" / "promptfooconfig.yaml"
    code, out, err = run_cli(["import", "promptfoo", str(config), "-o", str(tmp_path)], capsys)
    assert code == 0, err
    assert f"{config}:32:9: warning: promptfoo's `javascript` assertion" in err
    assert f"{config}:34:9: warning: python: inline Python code is not imported" in err
    assert f"{config}:38:9: warning: similar: promptfoo compares embeddings" in err
    assert "6 checks (2 not imported)" in err
    code, _, _ = run_cli(["validate", out.strip()], capsys)
    assert code == 0
    rubric = FIXTURES / "eval-customer-support-rubric" / "promptfooconfig.yaml"
    suite, _ = import_suite("promptfoo", rubric, tmp_path / "r")
    assert [a["judge"]["model"] for a in suite.spec["tests"]["assert"]] == [
        "openai:gpt-4.1-mini"
    ] * 5
    assert "threshold" not in suite.spec["tests"]  # __threshold "0" is dropped, as promptfoo does


# -- the oracle: promptfoo's rules, from its source (see SEMANTICS.md) ------------------------


def _extract_objects(text: str) -> list[Any]:
    """src/util/json.ts extractJsonObjects: from each '{', the shortest slice that parses."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "{":
            for j in range(i + 1, len(text) + 1):
                try:
                    found.append(json.loads(text[i:j]))
                except ValueError:
                    continue
                i = j - 1
                break
        i += 1
    return found


def promptfoo_passes(kind: str, value: Any, output: str) -> bool:
    inverse = kind.startswith("not-")
    base = kind.removeprefix("not-")
    if isinstance(value, str) and base.endswith(("contains-any", "contains-all")):
        value = [v.strip() for v in value.split(",")]  # csv.ts: ARRAY_ASSERTION_TYPES
    rules = {
        "equals": lambda: output == value,  # equals.ts: String(renderedValue) === output
        "contains": lambda: value in output,  # contains.ts handleContains
        "icontains": lambda: value.lower() in output.lower(),
        "starts-with": lambda: output.startswith(value),
        "contains-any": lambda: any(v in output for v in value),
        "contains-all": lambda: all(v in output for v in value),
        "icontains-any": lambda: any(v.lower() in output.lower() for v in value),
        "icontains-all": lambda: all(v.lower() in output.lower() for v in value),
        "is-json": lambda: _is_json(output),
        "contains-json": lambda: bool(_extract_objects(output)),
        "regex": lambda: __import__("re").search(value, output) is not None,
    }
    return rules[base]() != inverse


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


PROBE_CONFIG = """\
prompts:
  - "Q: {{ q }}"
providers:
  - id: openai:chat:gpt-4.1-mini
    config: {temperature: 0, max_tokens: 50}
defaultTest:
  vars: {lang: en}
  assert:
    - type: not-contains
      value: ERROR
tests: file://cases.csv
evaluateOptions: {repeat: 1}
"""

# Each row: the case, its promptfoo assertion string, and the outputs that probe it.
PROBES: list[tuple[str, list[str]]] = [
    ("Paris", ["Paris", " Paris", "paris", "Paris\n"]),
    ("icontains:bonjour", ["BONJOUR!", "bon jour"]),
    ("contains:Ahoy", ["ahoy", "Ahoy matey", "ERROR Ahoy"]),
    ("contains-any:red, blue", ["Blue sky", "a red car", "green"]),
    ("contains-all:red,blue", ["red and blue", "red, Blue"]),
    ("icontains-all:Red , BLUE", ["red and blue", "red"]),
    ("not-icontains-any:sorry,apolog", ["SORRY", "Fine.", "We apologise"]),
    ("starts-with:Yes", ["Yes.", " Yes", "yes"]),
    ("is-json", ['{"a": 1}', "[1, 2]", 'Here: {"a": 1}', "NaN"]),
    ("contains-json", ['Here: {"a": 1}', "[1, 2]", "{not json}", '{"a": "}"}']),
    ("regex:^\\d{3}$", ["123", "1234", " 123"]),
    ("not-equals:no", ["no", "No", "no "]),
]


def _probe_rows() -> list[tuple[str, str, str]]:
    """(question, the assertion string, the output the fake model gives)."""
    return [
        (f"q{n}-{k}", expected, output)
        for n, (expected, outputs) in enumerate(PROBES)
        for k, output in enumerate(outputs)
    ]


def test_an_imported_config_decides_every_case_as_promptfoo(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "promptfooconfig.yaml").write_text(PROBE_CONFIG)
    rows = _probe_rows()
    lines = ["q,__expected"] + ['"{}","{}"'.format(q, e.replace('"', '""')) for q, e, _ in rows]
    (source / "cases.csv").write_text("\n".join(lines) + "\n")
    suite, path = import_suite("promptfoo", source / "promptfooconfig.yaml", tmp_path / "out")
    assert not suite.problems
    assert suite.spec["models"] == [
        {"id": "openai:gpt-4.1-mini", "params": {"temperature": 0.0, "max_tokens": 50}}
    ]
    said = {f"Q: {q}": out for q, _, out in rows}

    def responder(request: dict[str, Any]) -> str:
        return said[last_user_text(request["messages"])]

    with FakeOpenAIServer(api_key="sk-test", responder=responder) as server:
        use_server(path, server)
        result = harness.run(path, home=tmp_path / "home", progress=False)
    verdicts = {r.case: r.passed for r in result.results}
    expected = {}
    for n, (_q, assertion, output) in enumerate(rows, start=1):
        kind, _, value = assertion.partition(":")
        if kind not in {k.removeprefix("not-") for k in _KINDS} | _KINDS:
            kind, value = "equals", assertion
        ok = promptfoo_passes(kind, value, output) and promptfoo_passes(
            "not-contains", "ERROR", output
        )
        expected[f"t{n}"] = ok
    assert verdicts == expected
    assert 0 < sum(expected.values()) < len(expected)


_KINDS = {
    "icontains", "contains", "contains-any", "contains-all", "icontains-all",
    "not-icontains-any", "starts-with", "is-json", "contains-json", "regex", "not-equals",
}  # fmt: skip


def test_a_file_outside_the_config_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "suite"
    source.mkdir()
    (tmp_path / "secret.txt").write_text("top secret {{ q }}")
    config = source / "promptfooconfig.yaml"
    config.write_text("prompts:\n  - file://../secret.txt\ntests:\n  - vars: {q: x}\n")
    code, _, err = run_cli(["import", "promptfoo", str(config), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "outside" in err and "Traceback" not in err
    assert f"{config}:2:5" in err and "top secret" not in err
    assert not (tmp_path / "o").exists()
    config.write_text("prompts: ['{{ q }}']\ntests:\n  - vars: {q: 'file://../../etc/passwd'}\n")
    code, _, err = run_cli(["import", "promptfoo", str(config), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "outside" in err and "root:" not in err


def test_default_vars_are_defaults_and_list_vars_expand(tmp_path: Path) -> None:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "prompts: ['{{ a }} {{ b }} {{ c | dump }}']\n"
        "defaultTest:\n  vars: {a: A, b: B}\n  threshold: 0.5\n"
        "tests:\n  - vars: {b: own, c: [1, 2]}\n    assert: [{type: levenshtein, value: x}]\n"
    )
    suite, path = import_suite("promptfoo", config, tmp_path / "out")
    records = [json.loads(line) for line in suite.files[f"data/{suite.name}.jsonl"].splitlines()]
    assert [(r["a"], r["b"], r["c"]) for r in records] == [("A", "own", "1"), ("A", "own", "2")]
    assert records[0]["assert"] == [{"levenshtein": {"value": "x", "threshold": 5}}]
    assert suite.spec["prompts"][0]["user"] == "{{ a }} {{ b }} {{ c | tojson }}"
    assert suite.spec["tests"]["threshold"] == 0.5
