"""Checks on model outputs (the ``assert`` list of a test case)."""

from harness.checks._spec import CHECK_NAMES, assert_shape_problem, split_assert
from harness.checks.builtin import CHECKS, CheckContext
from harness.checks.evaluate import ArgRenderer, check_result, normalise_output

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "ArgRenderer",
    "CheckContext",
    "assert_shape_problem",
    "check_result",
    "normalise_output",
    "split_assert",
]
