"""Batch planning for local engines: shared prefixes, length order, token budgets."""

from __future__ import annotations

import random

import pytest

from harness.models._batching import Batch, plan_batches, shared_prefix

SYSTEM = list(range(1000, 1040))  # 40 tokens every prompt of a "prompt" shares


def _prompt(system: list[int], own: int, rng: random.Random) -> list[int]:
    return system + [rng.randrange(10, 900) for _ in range(own)]


def _covered(batches: list[Batch]) -> list[int]:
    return sorted(row for batch in batches for row in batch.rows)


def test_every_prompt_is_planned_exactly_once() -> None:
    rng = random.Random(0)
    prompts = [_prompt(SYSTEM, rng.randrange(1, 60), rng) for _ in range(100)]
    batches = plan_batches(prompts, max_rows=16, token_budget=2048, new_tokens=8)
    assert _covered(batches) == list(range(100))


def test_rows_share_the_prefix_and_keep_a_token_of_their_own() -> None:
    rng = random.Random(1)
    other = list(range(2000, 2100))
    prompts = [_prompt(SYSTEM, rng.randrange(1, 30), rng) for _ in range(30)]
    prompts += [_prompt(other, rng.randrange(1, 30), rng) for _ in range(30)]
    batches = plan_batches(prompts, max_rows=64, token_budget=100_000, new_tokens=8)
    prefixes = {batch.prefix for batch in batches}
    assert prefixes == {len(SYSTEM), len(other)}  # each prompt's own system message
    for batch in batches:
        rows = [prompts[row] for row in batch.rows]
        assert all(row[: batch.prefix] == rows[0][: batch.prefix] for row in rows)
        assert all(len(row) > batch.prefix for row in rows)


def test_identical_prompts_still_leave_a_token_to_process() -> None:
    prompts = [[5, 6, 7]] * 4
    (batch,) = plan_batches(prompts, max_rows=8, token_budget=1000, new_tokens=4)
    assert batch.prefix == 2 and sorted(batch.rows) == [0, 1, 2, 3]


def test_a_lone_prompt_gets_no_prefix() -> None:
    (batch,) = plan_batches([SYSTEM + [1, 2]], max_rows=8, token_budget=1000, new_tokens=4)
    assert batch.prefix == 0


def test_a_subgroup_sharing_much_more_gets_its_own_longer_prefix() -> None:
    rng = random.Random(2)
    shots = list(range(3000, 3050))  # 50 more shared tokens: the same shots
    zero_shot = [_prompt(SYSTEM, rng.randrange(3, 9), rng) for _ in range(10)]
    fixed_shots = [_prompt(SYSTEM + shots, rng.randrange(3, 9), rng) for _ in range(10)]
    batches = plan_batches(zero_shot + fixed_shots, max_rows=64, token_budget=10**6, new_tokens=4)
    by_prefix = {batch.prefix: set(batch.rows) for batch in batches}
    assert by_prefix[len(SYSTEM) + len(shots)] == set(range(10, 20))
    assert set(range(10)) <= by_prefix[len(SYSTEM)]


def test_small_or_marginal_subgroups_stay_in_their_parent() -> None:
    rng = random.Random(3)
    prompts = [_prompt(SYSTEM, 5, rng) for _ in range(10)]
    prompts += [SYSTEM + [7] * 30 + [i] for i in range(3)]  # only 3 share more: too few
    batches = plan_batches(prompts, max_rows=64, token_budget=10**6, new_tokens=4, min_group=4)
    assert len(batches) == 1 and batches[0].prefix == len(SYSTEM)


def test_lengths_are_sorted_so_short_prompts_do_not_wait_on_long_ones() -> None:
    rng = random.Random(4)
    prompts = [_prompt(SYSTEM, own, rng) for own in [200, 3, 180, 4, 190, 5, 210, 6]]
    batches = plan_batches(prompts, max_rows=4, token_budget=10**6, new_tokens=4)
    groups = [sorted(len(prompts[row]) - len(SYSTEM) for row in b.rows) for b in batches]
    assert sorted(groups) == [[3, 4, 5, 6], [180, 190, 200, 210]]


@pytest.mark.parametrize("budget", [300, 1000, 5000])
def test_the_token_budget_bounds_each_batch(budget: int) -> None:
    rng = random.Random(5)
    prompts = [_prompt(SYSTEM, rng.randrange(1, 200), rng) for _ in range(80)]
    batches = plan_batches(prompts, max_rows=64, token_budget=budget, new_tokens=16)
    for batch in batches:
        longest = max(len(prompts[row]) for row in batch.rows) + 16
        assert len(batch.rows) == 1 or len(batch.rows) * longest <= budget
    assert _covered(batches) == list(range(80))


def test_the_plan_is_deterministic() -> None:
    rng = random.Random(6)
    prompts = [_prompt(SYSTEM, rng.randrange(1, 50), rng) for _ in range(50)]
    first = plan_batches(prompts, max_rows=8, token_budget=4096, new_tokens=8)
    assert plan_batches(prompts, max_rows=8, token_budget=4096, new_tokens=8) == first


def test_shared_prefix_counts_leading_equal_tokens() -> None:
    assert shared_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert shared_prefix([1, 2], [1, 2, 3]) == 2
    assert shared_prefix([], [1]) == 0


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        plan_batches([[1]], max_rows=0, token_budget=10, new_tokens=1)
