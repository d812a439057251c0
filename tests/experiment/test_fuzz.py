"""Fuzzing the loader: any input ends in located problems, never an exception."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness._cli.main import main
from harness.experiment import validate_experiment
from tests.conftest import EXPERIMENTS

LINE = re.compile(r"^.+:\d+:\d+: (error|warning): \S.*$", re.DOTALL)
KEYS = [
    "name",
    "description",
    "models",
    "params",
    "prompts",
    "examples",
    "shots",
    "selectors",
    "seeds",
    "style",
    "tests",
    "repeats",
    "file",
    "items",
    "id",
    "user",
    "system",
    "assert",
    "answer",
    "match_on",
    "balance_on",
    "equals",
    "fixed",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(KEYS)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)
experiments = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
WORK = Path(tempfile.mkdtemp(prefix="harness-fuzz-"))


def check(data: bytes, name: str = "fuzz.yaml") -> None:
    path = WORK / name
    path.write_bytes(data)
    result = validate_experiment(path)
    for problem in result.problems:
        assert LINE.match(str(problem)), str(problem)
        assert problem.location.line >= 1 and problem.location.col >= 1
    if result.experiment is None:
        assert result.errors, "an unusable file must report at least one error"


def dump(value: Any) -> bytes:
    return yaml.safe_dump(value, allow_unicode=True).encode()


@FUZZ
@given(experiments)
def test_random_structures(value: dict[str, Any]) -> None:
    check(dump(value))


@FUZZ
@given(values)
def test_random_documents(value: Any) -> None:
    check(dump(value))


@FUZZ
@given(st.binary(max_size=300))
def test_binary_junk(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.text(max_size=300))
def test_unicode_text(text: str) -> None:
    check(text.encode("utf-8", "surrogatepass"))


SHIPPED = (EXPERIMENTS / "date_iso.yaml").read_text()


@FUZZ
@given(st.integers(0, len(SHIPPED)), st.integers(0, 40), st.text(max_size=6))
def test_mutated_shipped_file(at: int, cut: int, insert: str) -> None:
    mutated = SHIPPED[:at] + insert + SHIPPED[at + cut :]
    path = EXPERIMENTS / ".fuzz-mutant.yaml"  # beside its data, so paths resolve
    try:
        path.write_text(mutated, encoding="utf-8", errors="surrogatepass")
        result = validate_experiment(path)
        for problem in result.problems:
            assert LINE.match(str(problem)), str(problem)
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n# only a comment\n",
        "[" * 5000,
        "a: " + "[" * 3000 + "]" * 3000,
        "shots: [" + "9" * 5000 + "]\nname: x\nprompts: [{id: p, user: u}]\ntests: {items: [{}]}",
        "a: &a [*a, *a]\n",
        "x: &x [1,2,3,4,5,6,7,8,9]\ny: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x]\n"
        "z: &z [*y,*y,*y,*y,*y,*y,*y,*y,*y]\nw: &w [*z,*z,*z,*z,*z,*z,*z,*z,*z]\n"
        "v: &v [*w,*w,*w,*w,*w,*w,*w,*w,*w]\nu: [*v,*v,*v,*v,*v,*v,*v,*v,*v,*v,*v,*v]\n",
        "name: a\n---\nname: b\n",
        "!!python/object/apply:os.system ['echo hi']\n",
        "name: !!binary aGVsbG8=\nprompts: {? [a]: b}\n",
        "\ufeffname: bom\n",
        "name: x\ttab\n\x07bell\n",
    ],
)
def test_nasty_inputs(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    check(text.encode("utf-8"))
    with pytest.raises(SystemExit) as info:
        main(["validate", str(WORK / "fuzz.yaml")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
