"""Honest statistics for comparing variants over the same test cases.

- Pass rate with a 95% Wilson interval (one result per case), or, when repeats give
  several results per case, the case as the cluster: the mean of per-case means with a
  t interval over cases (Miller 2024, "Adding Error Bars to Evals").
- Paired comparison of two variants over the cases both answered: the mean per-case
  difference with a paired t interval, and an exact sign test over cases whose scores
  differ — with one result per case this is exactly McNemar's exact test.
- Holm's step-down adjustment across the variants compared.
- A power hint: cases needed to detect the observed difference at 80% power.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = [
    "Paired",
    "Rate",
    "holm",
    "mcnemar_exact",
    "paired_comparison",
    "pass_rate",
    "wilson_interval",
]


@dataclass(frozen=True)
class Rate:
    """A pass rate over cases, with its 95% interval."""

    rate: float
    low: float
    high: float
    cases: int
    clustered: bool


@dataclass(frozen=True)
class Paired:
    """A paired difference (a - b) over shared cases."""

    diff: float
    low: float
    high: float
    p_value: float
    cases: int
    a_only: float  # cases (or case mass) where a passes and b fails
    b_only: float
    cases_needed: int | None


def wilson_interval(passed: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (via scipy)."""
    if n == 0:
        return 0.0, 1.0
    ci = sps.binomtest(passed, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def pass_rate(case_scores: Mapping[str, Sequence[float]], confidence: float = 0.95) -> Rate:
    """Pass rate from per-case results (each a list of 0/1 over repeats)."""
    means = [sum(v) / len(v) for v in case_scores.values() if v]
    n = len(means)
    if n == 0:
        return Rate(0.0, 0.0, 1.0, 0, False)
    rate = sum(means) / n
    clustered = any(len(v) > 1 for v in case_scores.values())
    if not clustered and all(m in (0.0, 1.0) for m in means):
        low, high = wilson_interval(int(sum(means)), n, confidence)
        return Rate(rate, low, high, n, False)
    if n < 2:
        return Rate(rate, 0.0, 1.0, n, True)
    se = float(np.std(means, ddof=1)) / math.sqrt(n)
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return Rate(rate, max(0.0, rate - half), min(1.0, rate + half), n, True)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    return float(sps.binomtest(a_only, discordant, 0.5).pvalue)


def paired_comparison(
    a: Mapping[str, float], b: Mapping[str, float], confidence: float = 0.95, power: float = 0.8
) -> Paired:
    """Compare per-case scores (means over repeats) of two variants on shared cases."""
    shared = sorted(set(a) & set(b))
    n = len(shared)
    if n == 0:
        return Paired(0.0, -1.0, 1.0, 1.0, 0, 0, 0, None)
    d = np.array([a[c] - b[c] for c in shared], dtype=float)
    diff = float(d.mean())
    a_only = float(d[d > 0].sum())
    b_only = float(abs(d[d < 0].sum()))
    p_value = mcnemar_exact(int((d > 0).sum()), int((d < 0).sum()))
    if n > 1:
        se = float(d.std(ddof=1)) / math.sqrt(n)
        half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * se
    else:
        half = 2.0
    low, high = max(-1.0, diff - half), min(1.0, diff + half)
    return Paired(
        diff, low, high, p_value, n, a_only, b_only, cases_needed(d, 1 - confidence, power)
    )


def cases_needed(d: np.ndarray, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Cases needed to detect the observed mean paired difference at ``power``.

    With 0/1 outcomes this is the McNemar sample size (Connor 1987) from the observed
    discordant proportions; otherwise the paired-t normal approximation.
    """
    n = len(d)
    diff = float(d.mean()) if n else 0.0
    if n == 0 or diff == 0:
        return None
    z_a = float(sps.norm.ppf(1 - alpha / 2))
    z_b = float(sps.norm.ppf(power))
    if set(np.unique(d)) <= {-1.0, 0.0, 1.0}:
        discordant = float((d != 0).mean())
        spread = discordant - diff**2
        if spread <= 0:
            return max(n, 1) if discordant == abs(diff) and n else None
        need = (z_a * math.sqrt(discordant) + z_b * math.sqrt(spread)) ** 2 / diff**2
    else:
        sd = float(d.std(ddof=1)) if n > 1 else 0.0
        if sd == 0:
            return None
        need = ((z_a + z_b) * sd / diff) ** 2
    return math.ceil(need)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
