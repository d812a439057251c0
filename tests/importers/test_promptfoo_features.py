"""``harness import promptfoo``, feature by feature: prompt files, providers, test files,
``file://`` vars, CSV thresholds, latency/cost, python checks, and levenshtein/similar
verdicts in a run. Each config is written here; the rules are SEMANTICS.md's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import harness
from harness.errors import ExperimentError
from harness.experiment import load_experiment
from harness.importers import import_promptfoo, import_suite, write_suite
from tests.importers._server import use_server
from tests.openai_server import FakeOpenAIServer
from tests.openai_server.chat import last_user_text


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, "utf-8")
    return folder / "promptfooconfig.yaml"


def _warnings(suite: Any) -> list[str]:
    return [str(p) for p in suite.problems]


def _records(suite: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in suite.files[f"data/{suite.name}.jsonl"].splitlines()]


def test_chat_json_and_nunjucks_prompt_files(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "src",
        {
            "promptfooconfig.yaml": "prompts:\n  - file://chat.json\n  - file://p.njk\n"
            "  - file://bad.j2\n  - file://pair.njk\ntests:\n  - vars: {q: x, lang: en}\n",
            "chat.json": json.dumps(
                [
                    {"role": "system", "content": "Answer in {{ lang }}."},
                    {"role": "user", "content": "{{ q | dump }}"},
                ]
            ),
            "p.njk": "Hi {{ q | upper }}\n{% if lang %}({{ lang }}){% endif %}\n",
            "bad.j2": "line one\nHi {{ q | load }}\n",
            "pair.njk": "{% for k, v in q %}{{ k }}{% endfor %}",
        },
    )
    suite, path = import_suite("promptfoo", config, tmp_path / "out")
    src = tmp_path / "src"
    assert suite.spec["prompts"] == [
        {
            "id": "p1",
            "messages": [
                {"role": "system", "content": "Answer in {{ lang }}."},
                {"role": "user", "content": "{{ q | tojson }}"},
            ],
        },
        {"id": "p2", "user": "Hi {{ q | upper }}\n{% if lang %}({{ lang }}){% endif %}\n"},
    ]
    assert (suite.imported["prompts"], suite.skipped["prompts"]) == (2, 2)
    warns = _warnings(suite)
    # untranslatable constructs are reported where they are, in the prompt file
    assert f"{src / 'bad.j2'}:2:4: warning: prompt p3: the filter `load` has no Jinja" in warns[1]
    assert f"{src / 'pair.njk'}:1:1: warning: prompt p3: `{{% for k, v in mapping %}}`" in warns[2]
    # `dump` is translated, with its differences said, at the config's entry
    assert warns[0].startswith(f"{config}:2:5: warning: prompt p1: `| dump` became `| tojson`")
    assert len(warns) == 3
    assert [p.id for p in load_experiment(path).prompts] == ["p1", "p2"]


def test_providers_become_models_and_others_are_reported(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        {
            "promptfooconfig.yaml": """\
prompts: ['{{ q }}']
providers:
  - id: openai:chat:gpt-4o
    config: {apiHost: api.example.com, temperature: 0.3, max_tokens: 20, seed: 1}
  - id: openai:gpt-4o-mini
    config: {apiBaseUrl: "http://localhost:9/v1", apiHost: ignored.example.com}
  - anthropic:messages:claude-3-haiku
  - openai:completion:gpt-3.5-turbo-instruct
tests:
  - vars: {q: x}
""",
        },
    )
    suite, path = import_suite("promptfoo", config, tmp_path / "out")
    assert suite.spec["models"] == [
        {
            "id": "openai:gpt-4o",
            "base_url": "https://api.example.com/v1",
            "params": {"temperature": 0.3, "max_tokens": 20},
        },
        {"id": "openai:gpt-4o-mini", "base_url": "http://localhost:9/v1"},
    ]
    assert _warnings(suite) == [
        f"{config}:3:5: warning: provider option `seed` is not imported",
        f"{config}:7:5: warning: provider 'anthropic:messages:claude-3-haiku' is not imported"
        " (only openai: chat models)",
        f"{config}:8:5: warning: provider 'openai:completion:gpt-3.5-turbo-instruct' is not"
        " imported (only openai: chat models)",
    ]
    assert suite.skipped["models"] == 2
    load_experiment(path)


def test_tests_from_jsonl_json_yaml_files_and_file_vars(tmp_path: Path) -> None:
    src = tmp_path / "src"
    config = _write(
        src,
        {
            "promptfooconfig.yaml": "prompts: ['{{ q }} {{ doc }}']\n"
            "defaultTest:\n  vars: {doc: none}\n"
            "tests:\n  - file://t.jsonl\n  - file://t.json\n  - file://t.yaml\n"
            "  - vars: {q: g, doc: file://doc.txt, obj: file://obj.json, y: file://obj.yaml}\n"
            "  - vars: {q: h, code: file://v.py}\n",
            "t.jsonl": '{"vars": {"q": "a"}, "assert": [{"type": "equals", "value": "A"}]}\n\n'
            '{"vars": {"q": "b"}, "assert": [{"type": "javascript", "value": "1"}]}\n',
            "t.json": '[\n  {"vars": {"q": "c"}},\n  {"vars": {"q": "d"},\n'
            '   "assert": [{"type": "rouge-n", "value": "x"}]}\n]\n',
            "t.yaml": "- vars: {q: e}\n- vars: {q: f}\n  assert:\n    - type: bleu\n      value: x\n",
            "doc.txt": "\n  the doc  \n\n",
            "obj.json": '{"k": [1, 2]}\n',
            "obj.yaml": "k: 2\nname: é\n",
            "v.py": "def get_var(*a): return {}\n",
        },
    )
    suite, path = import_suite("promptfoo", config, tmp_path / "out")
    records = _records(suite)
    assert [r["q"] for r in records] == ["a", "b", "c", "d", "e", "f", "g"]
    assert records[0]["assert"] == [{"equals": "A"}] and records[0]["doc"] == "none"
    # renderPrompt: text files trimmed (.json too: it is read as text), YAML as JSON.stringify
    assert records[6]["doc"] == "the doc"
    assert records[6]["obj"] == '{"k": [1, 2]}'
    assert records[6]["y"] == '{"k":2,"name":"é"}'
    assert _warnings(suite) == [
        f"{src / 't.jsonl'}:3:1: warning: promptfoo's `javascript` assertion has no equivalent"
        " here; not imported",
        f"{src / 't.json'}:3:3: warning: promptfoo's `rouge-n` assertion has no equivalent"
        " here; not imported",
        f"{src / 't.yaml'}:2:3: warning: promptfoo's `bleu` assertion has no equivalent here;"
        " not imported",
        f"{config}:9:5: warning: a var from file://v.py (code or binary) is not imported",
    ]
    assert all(p.location.line >= 1 for p in suite.problems)
    load_experiment(path)


def test_a_broken_jsonl_line_is_an_error_at_its_line(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        {
            "promptfooconfig.yaml": "prompts: ['{{ q }}']\ntests: file://t.jsonl\n",
            "t.jsonl": '{"vars": {"q": "a"}}\n{"vars": \n',
        },
    )
    with pytest.raises(ExperimentError) as err:
        import_promptfoo(config)
    assert str(err.value.problems[0]).startswith(f"{tmp_path / 't.jsonl'}:2:1: error: not JSON")


CSV_CONFIG = "prompts: ['{{ q }}']\ntests: file://cases.csv\n"


def test_csv_config_thresholds_and_test_threshold(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        {
            "promptfooconfig.yaml": CSV_CONFIG,
            "cases.csv": "q,__expected1,__expected2,__config:__expected2:threshold,__threshold\n"
            "a,levenshtein:abc,similar:abd,0.6,0.5\n"
            "b,,levenshtein(2):bb,3,0.5\n",
        },
    )
    suite, path = import_suite("promptfoo", config, tmp_path / "out")
    records = _records(suite)
    assert records[0]["assert"] == [
        {"levenshtein": {"value": "abc", "threshold": 0.75}},  # CSV: `threshold || 0.75`
        {"similar": {"value": "abd", "threshold": 0.6}},  # __config:__expected2:threshold
    ]
    # a blank __expected1 is skipped, so the second config targets nothing (as in promptfoo)
    assert records[1]["assert"] == [{"levenshtein": {"value": "bb", "threshold": 2.0}}]
    assert suite.spec["tests"]["threshold"] == 0.5  # every row sets the same __threshold
    load_experiment(path)


def test_thresholds_on_some_rows_only_are_not_spread_to_all(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        {
            "promptfooconfig.yaml": CSV_CONFIG,
            "cases.csv": "q,__expected,__threshold\na,x,0.5\nb,y,\nc,z,0\n",
        },
    )
    suite, _ = import_suite("promptfoo", config, tmp_path / "out")
    assert "threshold" not in suite.spec["tests"]
    assert _warnings(suite) == [
        f"{config}:2:8: warning: per-test thresholds differ (0.5, none); none applies"
    ]
    config.write_text(CSV_CONFIG.replace("tests:", "defaultTest: {threshold: 0.25}\ntests:"))
    suite, _ = import_suite("promptfoo", config, tmp_path / "out2")
    assert suite.spec["tests"]["threshold"] == 0.25
    assert "(0.25, 0.5); only the default's applies" in _warnings(suite)[0]


def test_a_blank_csv_config_threshold_is_an_error_at_its_row(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        {
            "promptfooconfig.yaml": CSV_CONFIG,
            "cases.csv": "q,__expected,__config:__expected:threshold\na,x,0.5\nb,y,\n",
        },
    )
    with pytest.raises(ExperimentError) as err:
        import_promptfoo(config)
    assert str(err.value.problems[0]).startswith(f"{tmp_path / 'cases.csv'}:3:1: error:")


def test_latency_and_cost_need_thresholds(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        {
            "promptfooconfig.yaml": """\
prompts: ['{{ q }}']
tests:
  - vars: {q: x}
    assert:
      - {type: latency, threshold: 500}
      - {type: cost, threshold: 0.002}
      - {type: latency}
      - {type: cost, threshold: 0}
""",
        },
    )
    suite, path = import_suite("promptfoo", config, tmp_path / "out")
    assert _records(suite)[0]["assert"] == [{"max_latency_ms": 500.0}, {"max_cost": 0.002}]
    assert _warnings(suite) == [
        f"{config}:7:9: warning: latency needs a threshold (promptfoo fails without one);"
        " not imported",
        f"{config}:8:9: warning: cost needs a threshold (promptfoo fails without one);"
        " not imported",
    ]
    load_experiment(path)


# -- verdicts in a run: levenshtein, similar, python, latency ----------------------------------


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def _indel_ratio(a: str, b: str) -> float:
    """rapidfuzz's fuzz.ratio / 100: 1 - indel distance / total length."""
    lcs = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            lcs[i][j] = lcs[i - 1][j - 1] + 1 if x == y else max(lcs[i - 1][j], lcs[i][j - 1])
    total = len(a) + len(b)
    return 1.0 if total == 0 else 1 - (total - 2 * lcs[-1][-1]) / total


RUN_CONFIG = """\
prompts: ['Q: {{ q }}']
providers: [openai:chat:gpt-4o-mini]
defaultTest:
  assert:
    - {type: latency, threshold: 60000}
tests: file://cases.csv
"""

# (the assertion cell, the output) -> promptfoo's rule, as SEMANTICS.md states it
RUNS = [
    ("levenshtein:kitten", "sitting"),  # distance 3 <= 0.75? no: CSV threshold `|| 0.75`
    ("levenshtein(3):kitten", "sitting"),
    ("levenshtein(2):kitten", "sitting"),
    ("not-levenshtein(2):kitten", "sitting"),
    ("levenshtein(1):café", "cafe"),
    ("similar(0.8):hello world", "hello world!"),
    ("similar(0.8):hello world", "goodbye"),
    ("similar:abcd", "abce"),  # CSV default 0.8; ratio 0.75
    ("file://grade.py:check", "ok"),
    ("file://grade.py:check", "no"),
]


def _expected(cell: str, output: str) -> bool:
    kind, _, value = cell.partition(":")
    negate = kind.startswith("not-")
    kind = kind.removeprefix("not-")
    base, _, number = kind.partition("(")
    if base == "levenshtein":
        ok = _levenshtein(output, value) <= (float(number.rstrip(")")) if number else 0.75)
    elif base == "similar":  # warned: characters here, embeddings there
        ok = _indel_ratio(output, value) >= (float(number.rstrip(")")) if number else 0.8)
    else:
        ok = output == "ok"  # grade.py
    return ok != negate


def test_levenshtein_similar_and_python_verdicts_in_a_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    rows = "".join(f'q{n},"{cell}"\n' for n, (cell, _) in enumerate(RUNS))
    config = _write(
        src,
        {
            "promptfooconfig.yaml": RUN_CONFIG,
            "cases.csv": "q,__expected\n" + rows,
            "grade.py": "def check(output, context):\n    return output == 'ok'\n",
        },
    )
    suite = import_promptfoo(config)
    assert suite.spec["tests"]["assert"] == [{"max_latency_ms": 60000.0}]
    assert _records(suite)[8]["assert"] == [{"python": "pf_grade:check"}]
    warns = _warnings(suite)
    assert any(
        w.startswith(f"{src / 'cases.csv'}:10:1: warning: python: imported as `python: "
                     "pf_grade:check` (needs --allow-python)")
        for w in warns
    )  # fmt: skip
    path = write_suite(suite, tmp_path / "out")
    assert (tmp_path / "out" / "pf_grade.py").read_text() == (src / "grade.py").read_text()
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    assert "--allow-python" in str(err.value)
    said = {f"Q: q{n}": output for n, (_, output) in enumerate(RUNS)}

    def responder(request: dict[str, Any]) -> str:
        return said[last_user_text(request["messages"])]

    with FakeOpenAIServer(api_key="sk-test", responder=responder) as server:
        use_server(path, server)
        load_experiment(path, allow_python=True)
        result = harness.run(path, home=tmp_path / "home", progress=False, allow_python=True)
    verdicts = {r.case: r.passed for r in result.results}
    expected = {f"t{n}": _expected(cell, out) for n, (cell, out) in enumerate(RUNS, start=1)}
    assert verdicts == expected
    assert 0 < sum(expected.values()) < len(expected)


def test_the_written_yaml_lists_every_warning(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        {
            "promptfooconfig.yaml": "prompts: ['{{ q }}']\nproviders: [bedrock:x]\n"
            "tests:\n  - vars: {q: x}\n    assert: [{type: latency}]\n",
        },
    )
    suite, path = import_suite("promptfoo", config, tmp_path / "out")
    head = path.read_text("utf-8").split("\n\n", 1)[0]
    assert f"# Not imported ({len(suite.problems)}):" in head
    for problem in suite.problems:
        assert f"#   {problem.location}: {problem.message}" in head
    assert yaml.safe_load(path.read_text("utf-8"))["name"] == suite.name
