"""The names and shape of assertion entries, shared by validation and the checks stage."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from harness.checks.builtin import CHECKS

__all__ = ["ASSERT_MODIFIERS", "CHECK_NAMES", "assert_shape_problem", "split_assert"]

CHECK_NAMES = frozenset(CHECKS)  # derived from the one registry of checks
ASSERT_MODIFIERS = frozenset({"weight", "normalize"})


def split_assert(entry: Mapping[str, Any]) -> tuple[str, bool, Any]:
    """``{not_contains: x}`` -> ("contains", True, x). Assumes a valid entry."""
    (key,) = (k for k in entry if k not in ASSERT_MODIFIERS)
    negate = key.startswith("not_")
    return key.removeprefix("not_"), negate, entry[key]


def assert_shape_problem(entry: Any) -> str | None:
    """Why ``entry`` is not a valid assertion, or None when it is."""
    if not isinstance(entry, Mapping):
        return 'each assertion must be a mapping such as `equals: "{{ expected }}"`'
    names = [k for k in entry if k not in ASSERT_MODIFIERS]
    if len(names) != 1:
        return f"each assertion names exactly one check, found {len(names)}: {', '.join(map(str, names))}"
    name = str(names[0]).removeprefix("not_")
    if name not in CHECK_NAMES:
        known = sorted(CHECK_NAMES)
        hint = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        suffix = f"; did you mean '{hint[0]}'?" if hint else f" (known: {', '.join(known)})"
        return f"unknown check '{names[0]}'{suffix}"
    return None
