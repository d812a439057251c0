"""Planning the batches of a local engine: shared prefixes once, similar lengths together.

An experiment sends the same system message (and for zero-shot, ``first`` and ``fixed``
variants the same shots) with every case, so most prompt tokens a local model reads are
repeated.  :func:`plan_batches` finds the prefixes that many prompts share, so an engine
computes each one's key/value cache once and continues every row from a copy of it, and
it cuts each group's prompts, sorted by length, into batches under a token budget, so a
long conversation no longer pads fifteen short ones.

Groups come from a walk down the prompts' prefix tree (the prompts sorted by token ids):
a set of prompts that shares at least ``min_gain`` more tokens than its parent group, and
has at least ``min_group`` members, becomes a group of its own.  The plan depends only on
the prompts and the limits, never on timing, so the same call gives the same batches.

This module is pure Python (no torch): any engine can use the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Batch", "plan_batches", "shared_prefix"]


@dataclass(frozen=True)
class Batch:
    """Prompts generated together, and how many leading tokens all of them share.

    ``rows`` are positions in the planned prompt list.  ``prefix`` tokens are the same in
    every row and shorter than each row (every row has a token of its own to process).
    Consecutive batches of one ``group`` have the same prefix, so an engine may keep its
    cache between them.
    """

    rows: tuple[int, ...]
    prefix: int
    group: int


def shared_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    """How many leading tokens two prompts share."""
    count = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        count += 1
    return count


def plan_batches(
    prompts: Sequence[Sequence[int]],
    *,
    max_rows: int,
    token_budget: int,
    new_tokens: int,
    min_group: int = 4,
    min_gain: int = 16,
) -> list[Batch]:
    """Cut ``prompts`` into batches: grouped by shared prefix, sorted by length in a group.

    A batch holds at most ``max_rows`` rows and, counting each row at the batch's longest
    prompt plus ``new_tokens``, at most ``token_budget`` tokens (a single row may exceed
    it: it still gets a batch of its own).  Every prompt appears in exactly one batch.
    """
    if max_rows < 1 or token_budget < 1:
        raise ValueError("max_rows and token_budget must be at least 1")
    batches: list[Batch] = []
    for number, (prefix, members) in enumerate(_groups(prompts, min_group, min_gain)):
        members.sort(key=lambda i: (len(prompts[i]), i))
        rows: list[int] = []
        for index in members:
            width = len(prompts[index]) + new_tokens  # the longest so far: sorted by length
            if rows and (len(rows) >= max_rows or (len(rows) + 1) * width > token_budget):
                batches.append(Batch(tuple(rows), prefix, number))
                rows = []
            rows.append(index)
        if rows:
            batches.append(Batch(tuple(rows), prefix, number))
    return batches


def _groups(
    prompts: Sequence[Sequence[int]], min_group: int, min_gain: int
) -> list[tuple[int, list[int]]]:
    """(prefix length, member positions) for each group, in prefix-tree order."""
    order = sorted(range(len(prompts)), key=lambda i: (list(prompts[i]), i))
    groups: list[tuple[int, list[int]]] = []
    # Each entry: a range of ``order`` whose members all share ``depth`` tokens.
    pending: list[tuple[int, int]] = [(0, len(order))] if order else []
    while pending:
        low, high = pending.pop()
        first, last = prompts[order[low]], prompts[order[high - 1]]
        depth = shared_prefix(first, last)  # a sorted range shares what its ends share
        members: list[int] = []
        for start, end in _runs(prompts, order, low, high, depth):
            inner = shared_prefix(prompts[order[start]], prompts[order[end - 1]])
            if end - start >= min_group and inner >= depth + min_gain and end - start < high - low:
                pending.append((start, end))
            else:
                members.extend(order[start:end])
        if members:
            shortest = min(len(prompts[i]) for i in members)
            shared = min(depth, shortest - 1) if len(members) > 1 else 0  # one row: no reuse
            groups.append((max(0, shared), members))
    groups.sort(key=lambda group: min(group[1]))  # deterministic, close to arrival order
    return groups


def _runs(
    prompts: Sequence[Sequence[int]], order: list[int], low: int, high: int, depth: int
) -> list[tuple[int, int]]:
    """Split a sorted range by each prompt's token at ``depth`` (prompts that end there first)."""
    runs: list[tuple[int, int]] = []
    start = low
    for position in range(low + 1, high + 1):
        if position == high or _token_at(prompts[order[position]], depth) != _token_at(
            prompts[order[start]], depth
        ):
            runs.append((start, position))
            start = position
    return runs


def _token_at(prompt: Sequence[int], position: int) -> int | None:
    return prompt[position] if position < len(prompt) else None
