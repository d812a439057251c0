"""Selector properties: deterministic, k respected, no self-leakage, balanced counts."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import Location
from harness.experiment.data import Case, PoolItem
from harness.experiment.schema import SelectorSpec
from harness.shots import build_selector, normalise_text

HERE = Location("t.yaml")
LABELS = ["pos", "neg", "neu"]

texts = st.text(alphabet="abc xyz019", min_size=1, max_size=12)


@st.composite
def pools(draw: st.DrawFn) -> tuple[list[PoolItem], Case]:
    n = draw(st.integers(1, 25))
    items = [
        PoolItem(f"p{i}", {"input": draw(texts), "label": draw(st.sampled_from(LABELS))}, HERE)
        for i in range(n)
    ]
    if draw(st.booleans()):  # the case sometimes has a twin in the pool
        twin = draw(st.sampled_from(items)).vars["input"]
        text = f"  {str(twin).upper()} "
    else:
        text = draw(texts)
    return items, Case(draw(st.text(min_size=1, max_size=5)), {"input": text}, HERE)


NAMES = st.sampled_from(["first", "random", "balanced", "similar"])


def make(name: str, pool: list[PoolItem]) -> object:
    return build_selector(SelectorSpec(name=name), pool, match_on="input", balance_on="label")


@settings(max_examples=150, deadline=None)
@given(pools(), NAMES, st.integers(0, 30), st.integers(0, 2**32))
def test_selection_properties(
    data: tuple[list[PoolItem], Case], name: str, k: int, seed: int
) -> None:
    pool, case = data
    selector = build_selector(SelectorSpec(name=name), pool, match_on="input", balance_on="label")
    shots = selector.select(case, k, seed)
    # deterministic for a seed
    assert shots == selector.select(case, k, seed)
    # k respected (clamped to what the case may see), no duplicates
    own = normalise_text(case.vars["input"])
    eligible = [p for p in pool if normalise_text(p.vars["input"]) != own]
    assert len(shots) == min(k, len(eligible))
    assert len({s.id for s in shots}) == len(shots)
    # never the case's own twin
    assert all(normalise_text(s.vars["input"]) != own for s in shots)


@settings(max_examples=150, deadline=None)
@given(pools(), st.integers(1, 30), st.integers(0, 2**32))
def test_balanced_spreads_evenly(data: tuple[list[PoolItem], Case], k: int, seed: int) -> None:
    pool, case = data
    selector = build_selector(
        SelectorSpec(name="balanced"), pool, match_on="input", balance_on="label"
    )
    counts = Counter(s.vars["label"] for s in selector.select(case, k, seed))
    available = Counter(
        p.vars["label"] for p in pool if p.id in {pool[i].id for i in selector.eligible(case)}
    )
    # a label gets fewer than another only when it has run out of examples
    for a in available:
        for b in available:
            if counts[a] < counts[b] - 1:
                assert counts[a] == available[a]


def test_random_draws_differ_per_case_and_seed() -> None:
    pool = [PoolItem(f"p{i}", {"input": f"t{i}"}, HERE) for i in range(40)]
    selector = build_selector(SelectorSpec(name="random"), pool, match_on="input")
    a = Case("a", {"input": "q"}, HERE)
    b = Case("b", {"input": "q"}, HERE)
    assert selector.select(a, 5, 0) != selector.select(b, 5, 0)
    assert selector.select(a, 5, 0) != selector.select(a, 5, 1)


def test_similar_puts_nearest_last() -> None:
    pool = [
        PoolItem("x", {"input": "March 5th, 2021"}, HERE),
        PoolItem("y", {"input": "5/3/2021 (day first)"}, HERE),
        PoolItem("z", {"input": "the 2nd of January 1999"}, HERE),
    ]
    selector = build_selector(SelectorSpec(name="similar"), pool, match_on="input")
    shots = selector.select(Case("c", {"input": "the 9th of January 1999"}, HERE), 2, None)
    assert shots[-1].id == "z"


def test_fixed_uses_named_ids_in_order_skipping_twins() -> None:
    pool = [PoolItem(i, {"input": i}, HERE) for i in "abcd"]
    spec = SelectorSpec.model_validate({"fixed": ["c", "a", "b"]})
    selector = build_selector(spec, pool, match_on="input")
    assert [s.id for s in selector.select(Case("q", {"input": "z"}, HERE), 2, 0)] == ["c", "a"]
    assert [s.id for s in selector.select(Case("q", {"input": "A"}, HERE), 2, 0)] == ["c", "b"]
