"""``harness compare A B``: the same (variant, case) results across two runs, paired."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from harness.results import Result
from harness.runs import RunDir
from harness.stats import Paired, paired_comparison

__all__ = ["Change", "RunComparison", "VariantChange", "pair_runs"]

ResultKey = tuple[str, str, int]


@dataclass(frozen=True)
class VariantChange:
    """One variant's pass rate before and after, paired over the cases both runs scored."""

    variant: str
    before: float
    after: float
    paired: Paired  # after - before


@dataclass(frozen=True)
class Change:
    """A result that passed in one run and failed in the other."""

    key: ResultKey
    was: Result
    now: Result


@dataclass(frozen=True)
class RunComparison:
    before: str
    after: str
    shared: int
    variants: list[VariantChange]
    regressions: list[Change]
    fixes: list[Change]


def pair_runs(a: RunDir, b: RunDir) -> RunComparison:
    """Per-variant paired changes from run ``a`` to run ``b``, and the results that flipped."""
    left = {(r.variant, r.case, r.repeat): r for r in a.results() if r.passed is not None}
    right = {(r.variant, r.case, r.repeat): r for r in b.results() if r.passed is not None}
    shared = sorted(set(left) & set(right))
    per_variant: dict[str, tuple[dict[str, list[float]], dict[str, list[float]]]] = defaultdict(
        lambda: (defaultdict(list), defaultdict(list))
    )
    regressions, fixes = [], []
    for key in shared:
        was, now = left[key], right[key]
        per_variant[key[0]][0][key[1]].append(float(bool(was.passed)))
        per_variant[key[0]][1][key[1]].append(float(bool(now.passed)))
        if was.passed and not now.passed:
            regressions.append(Change(key, was, now))
        elif now.passed and not was.passed:
            fixes.append(Change(key, was, now))
    changes = []
    for variant, (before, after) in sorted(per_variant.items()):
        b_mean = {c: sum(v) / len(v) for c, v in before.items()}
        a_mean = {c: sum(v) / len(v) for c, v in after.items()}
        p = paired_comparison(a_mean, b_mean)
        rate_before = sum(b_mean.values()) / len(b_mean)
        changes.append(VariantChange(variant, rate_before, rate_before + p.diff, p))
    return RunComparison(a.id, b.id, len(shared), changes, regressions, fixes)
