"""Checks on model outputs (the ``assert`` list of a test case)."""

from harness.checks._spec import CHECK_NAMES, assert_shape_problem

__all__ = ["CHECK_NAMES", "assert_shape_problem"]
