"""One registry of checks: every name validation accepts is a check that runs, and back."""

from __future__ import annotations

from harness.checks import CHECK_NAMES, CHECKS, assert_shape_problem
from harness.checks._args import _ARG_CHECKS


def test_names_come_from_the_registry() -> None:
    assert frozenset(CHECKS) == CHECK_NAMES
    assert "judge" in CHECKS  # reads the verdict asked for before checking


def test_every_check_has_its_argument_validation() -> None:
    assert set(_ARG_CHECKS) | {"judge"} == set(CHECKS)


def test_validation_accepts_exactly_the_registered_checks() -> None:
    for name in CHECKS:
        assert assert_shape_problem({name: "x"}) is None
        assert assert_shape_problem({f"not_{name}": "x"}) is None
    assert "unknown check 'equal'" in (assert_shape_problem({"equal": "x"}) or "")
