"""Statistics against independently computed values, and properties with hypothesis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats import (
    cases_needed,
    holm,
    mcnemar_exact,
    paired_comparison,
    pass_rate,
    wilson_interval,
)


def test_wilson_matches_the_formula() -> None:
    # Wilson (1927): centre (p + z²/2n) / (1 + z²/n), half-width z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)
    k, n, z = 8, 10, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(centre - half, abs=1e-9)
    assert high == pytest.approx(centre + half, abs=1e-9)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)


def test_mcnemar_exact_matches_binomial_sum() -> None:
    # b=1, c=9: p = 2 * P(X <= 1 | n=10, 0.5) = 2 * 11/1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)


def test_holm_against_hand_computation() -> None:
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([]) == []


def test_clustered_rate_uses_case_means() -> None:
    rate = pass_rate({"a": [1, 1], "b": [0, 1], "c": [0, 0]})
    assert rate.clustered and rate.rate == pytest.approx(0.5)
    assert rate.low < 0.5 < rate.high


def test_mcnemar_sample_size_is_plausible() -> None:
    import numpy as np

    # 20% discordant, all in one direction: difference 0.2
    d = np.array([1.0] * 20 + [0.0] * 80)
    need = cases_needed(d)
    assert need is not None and 30 < need < 60


scores = st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(scores)
def test_interval_contains_estimate(values: list[float]) -> None:
    rate = pass_rate({str(i): [v] for i, v in enumerate(values)})
    assert 0 <= rate.low <= rate.rate <= rate.high <= 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0])), min_size=1, max_size=60
    )
)
def test_paired_swap_symmetry(pairs: list[tuple[float, float]]) -> None:
    a = {str(i): x for i, (x, _) in enumerate(pairs)}
    b = {str(i): y for i, (_, y) in enumerate(pairs)}
    ab, ba = paired_comparison(a, b), paired_comparison(b, a)
    assert ab.diff == pytest.approx(-ba.diff)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.low == pytest.approx(-ba.high) and ab.high == pytest.approx(-ba.low)
    assert ab.low <= ab.diff <= ab.high
    assert 0 <= ab.p_value <= 1
