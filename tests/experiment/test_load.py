"""Loading experiment files: values as written, data formats, locations of every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ExperimentError
from harness.experiment import load_experiment, validate_experiment
from tests.conftest import EXPERIMENTS, WriteFiles

BASE = """
name: t
prompts:
  - id: p
    system: Answer.
    user: "{{ input }}"
tests:
  items:
    - {id: a, input: "x", expected: "2019-10-24"}
"""


def errors(path: Path) -> list[str]:
    return [str(p) for p in validate_experiment(path).errors]


@pytest.mark.parametrize("name", ["date_iso.yaml", "sentiment.yaml", "json_extract.yaml"])
def test_shipped_experiments_validate(name: str) -> None:
    result = validate_experiment(EXPERIMENTS / name)
    assert result.ok, result.problems
    exp = result.experiment
    assert exp is not None
    assert len(exp.cases) >= 30
    assert 50 <= len(exp.pool) <= 100


def test_yaml_values_stay_as_written(write: WriteFiles) -> None:
    path = write(
        {
            "e.yaml": """
        name: t
        prompts: [{id: p, user: "{{ input }}"}]
        tests:
          items:
            - {input: no, expected: 2019-10-24, version: 1.10, n: 007, empty: ~}
        """
        }
    )
    case = load_experiment(path).cases[0]
    assert case.vars == {
        "input": "no",
        "expected": "2019-10-24",
        "version": "1.10",
        "n": "007",
        "empty": None,
    }


def test_jsonl_keeps_types_and_csv_keeps_strings(write: WriteFiles) -> None:
    path = write(
        {
            "e.yaml": """
            name: t
            prompts: [{id: p, user: "{{ input }}"}]
            examples: {file: pool.csv}
            shots: [1]
            tests: {file: cases.jsonl}
            """,
            "pool.csv": 'id,input,expected\nq1,"a, b",1.10\nq2,c,no\n',
            "cases.jsonl": '{"id": "c1", "input": "z", "expected": 3, "flag": true}\n',
        }
    )
    exp = load_experiment(path)
    assert exp.pool[0].vars == {"id": "q1", "input": "a, b", "expected": "1.10"}
    assert exp.cases[0].vars["expected"] == 3
    assert exp.cases[0].vars["flag"] is True


def test_unknown_key_has_did_you_mean_and_line(write: WriteFiles) -> None:
    path = write({"e.yaml": BASE.replace("  - id: p\n", "  - id: p\n    sytem: oops\n")})
    (message,) = errors(path)
    assert message.endswith("error: unknown key 'sytem'; did you mean 'system'?")
    assert ":4:5:" in message


def test_every_problem_reported_with_its_line(write: WriteFiles) -> None:
    path = write(
        {
            "e.yaml": """
            name: t
            shots: [0, 9]
            selectors: [random, nope]
            prompts:
              - id: p
                user: "{{ input }} {{ missing }}"
              - id: p
                file: nowhere.j2
            examples: {file: pool.jsonl}
            tests:
              file: cases.jsonl
              assert:
                - equal: x
            """,
            "pool.jsonl": '{"id": "a", "input": "1"}\n{bad json\n',
            "cases.jsonl": '{"id": "c", "input": "1"}\n{"id": "c", "input": "2"}\n',
        }
    )
    found = errors(path)
    text = "\n".join(found)
    assert "e.yaml:3:" in text and "selectors[1].name" in text
    assert "e.yaml:8:" in text and "nowhere.j2" in text
    assert "pool.jsonl:2:" in text and "invalid JSON" in text
    assert "cases.jsonl:2:" in text and "duplicate test case id 'c'" in text
    assert "e.yaml:13:" in text and "did you mean 'equals'" in text
    assert len(found) >= 5


def test_rules_after_schema(write: WriteFiles) -> None:
    path = write(
        {
            "e.yaml": """
            name: t
            shots: [0, 5]
            selectors: [balanced, {fixed: [a, zz]}]
            prompts:
              - {id: p, user: "{{ input }}"}
              - {id: p, user: "{{ input }}"}
            examples:
              items:
                - {id: a, input: "1", expected: "x"}
                - {id: b, input: "2", expected: "y"}
            tests:
              items:
                - {id: c, input: "1", expected: "x"}
            """,
        }
    )
    text = "\n".join(errors(path))
    assert "5 shots but the pool holds only 2 examples" in text
    assert "needs `examples.balance_on`" in text
    assert "ids not in the pool: zz" in text
    assert "duplicate prompt id 'p'" in text
    warnings = [str(p) for p in validate_experiment(path).problems if p.severity == "warning"]
    assert any("1 of 1 test cases also appear in the pool" in w for w in warnings)


def test_undefined_variable_located_and_grouped(write: WriteFiles) -> None:
    path = write(
        {
            "e.yaml": """
            name: t
            prompts:
              - id: p
                user: |
                  Question: {{ input }}
                  Context: {{ context }}
            tests:
              items: [{input: a}, {input: b}, {input: c}]
            """,
        }
    )
    (message,) = errors(path)
    assert message.startswith(f"{path.name}:6:") or ":6:1:" in message
    assert "'context' is undefined" in message and "(and 2 more)" in message


def test_template_file_errors_point_into_the_file(write: WriteFiles) -> None:
    path = write(
        {
            "e.yaml": """
            name: t
            prompts: [{id: p, file: p.j2}]
            tests: {items: [{input: a}]}
            """,
            "p.j2": "{% block system %}S{% endblock %}\n{% block user %}\n{{ input }\n{% endblock %}\n",
        }
    )
    (message,) = errors(path)
    assert "p.j2:3:" in message and "syntax error" in message


def test_load_raises_with_all_problems(write: WriteFiles) -> None:
    path = write({"e.yaml": "name: t\nprompts: []\n"})
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    assert len(info.value.problems) == 2  # empty prompts, missing tests


def test_missing_file(tmp_path: Path) -> None:
    (problem,) = validate_experiment(tmp_path / "nope.yaml").problems
    assert "file not found" in problem.message


def test_alias_bomb_is_refused_quickly_and_small(write: WriteFiles) -> None:
    import time
    import tracemalloc

    lines = ["name: e", "a0: &a0 [" + ",".join(["xxxxxxxxxx"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    path = write({"exp.yaml": "\n".join(lines) + "\n"})
    tracemalloc.start()
    start = time.perf_counter()
    result = validate_experiment(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - start < 5 and peak < 200e6
    assert any("alias expansion bomb" in p.message for p in result.errors)


def test_huge_json_integer_is_a_located_error(write: WriteFiles) -> None:
    path = write(
        {
            "exp.yaml": "name: e\nprompts: [{id: p, user: x}]\ntests: {file: cases.jsonl}\n",
            "cases.jsonl": '{"id": "a"}\n{"id": "b", "n": ' + "9" * 5000 + "}\n",
        }
    )
    (problem,) = validate_experiment(path).errors
    assert problem.location.line == 2 and "4300 digits" in problem.message
