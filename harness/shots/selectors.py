"""Shot selectors: which pool items a test case sees as examples.

Every selector is deterministic for a given (seed, case) and never shows a case its own
twin from the pool (the leakage guard: same ``match_on`` text after whitespace and case
normalisation). ``random`` and ``balanced`` draw afresh for every case, as
lm-evaluation-harness does, so a result does not hinge on one lucky set of examples.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from harness.shots.similarity import SimilarityIndex, build_index

__all__ = [
    "Record",
    "SelectorOptions",
    "ShotSelector",
    "build_selector",
    "normalise_text",
    "select_shots",
]


class Record(Protocol):
    """A pool item or test case as selection sees it (``harness.experiment``'s records)."""

    @property
    def id(self) -> str: ...
    @property
    def vars(self) -> Mapping[str, Any]: ...


class SelectorOptions(Protocol):
    """A selector's settings (the experiment's ``SelectorSpec``)."""

    @property
    def name(self) -> str: ...
    @property
    def ids(self) -> Sequence[str] | None: ...
    @property
    def method(self) -> str: ...
    @property
    def embedding_model(self) -> str | None: ...


Item = TypeVar("Item", bound=Record)


def normalise_text(value: Any) -> str:
    """Whitespace-collapsed, case-folded text used to detect a case in the pool."""
    return " ".join(str(value).split()).casefold()


def _rng(seed: int, case_id: str, salt: str) -> random.Random:
    digest = hashlib.sha256(f"{salt}\x00{seed}\x00{case_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class ShotSelector(Generic[Item]):
    """A selector prepared for one pool (indexes are built once, used for every case)."""

    spec: SelectorOptions
    pool: tuple[Item, ...]
    match_on: str
    balance_on: str | None = None
    index: SimilarityIndex | None = None

    def eligible(self, case: Record) -> list[int]:
        """Indexes of pool items the case may see (everything except its own twin)."""
        if self.match_on not in case.vars:
            return list(range(len(self.pool)))
        own = normalise_text(case.vars[self.match_on])
        return [
            i
            for i, item in enumerate(self.pool)
            if normalise_text(item.vars.get(self.match_on, "")) != own
        ]

    def select(self, case: Record, k: int, seed: int | None) -> tuple[Item, ...]:
        """The k shots for ``case``, in the order they are shown."""
        if k <= 0:
            return ()
        allowed = self.eligible(case)
        name = self.spec.name
        if name == "first":
            chosen = allowed[:k]
        elif name == "fixed":
            by_id = {item.id: i for i, item in enumerate(self.pool)}
            allowed_set = set(allowed)
            wanted = [by_id[x] for x in self.spec.ids or () if x in by_id]
            chosen = [i for i in wanted if i in allowed_set][:k]
        elif name == "random":
            chosen = _rng(seed or 0, case.id, "random").sample(allowed, min(k, len(allowed)))
        elif name == "balanced":
            chosen = self._balanced(case, allowed, k, seed or 0)
        else:
            chosen = self._similar(case, allowed, k)
        return tuple(self.pool[i] for i in chosen)

    def _balanced(self, case: Record, allowed: list[int], k: int, seed: int) -> list[int]:
        assert self.balance_on is not None
        rng = _rng(seed, case.id, "balanced")
        groups: dict[str, list[int]] = {}
        for i in allowed:
            groups.setdefault(str(self.pool[i].vars.get(self.balance_on, "")), []).append(i)
        labels = sorted(groups)
        for label in labels:
            rng.shuffle(groups[label])
        order = labels[:]
        rng.shuffle(order)  # which labels get the extra shots when k is not a multiple
        chosen: list[int] = []
        taken = dict.fromkeys(labels, 0)
        while len(chosen) < min(k, len(allowed)):
            for label in order:
                if len(chosen) >= k:
                    break
                if taken[label] < len(groups[label]):
                    chosen.append(groups[label][taken[label]])
                    taken[label] += 1
        rng.shuffle(chosen)  # no fixed label order for the model to latch on to
        return chosen

    def _similar(self, case: Record, allowed: list[int], k: int) -> list[int]:
        assert self.index is not None
        scores = self.index.scores(str(case.vars.get(self.match_on, "")))
        ranked = sorted(allowed, key=lambda i: (-scores[i], i))[:k]
        return ranked[::-1]  # the most similar example sits next to the question


def build_selector(
    spec: SelectorOptions,
    pool: Sequence[Item],
    *,
    match_on: str,
    balance_on: str | None = None,
) -> ShotSelector[Item]:
    """Prepare a selector for ``pool`` (builds the similarity index for ``similar``)."""
    items = tuple(pool)
    index = None
    if spec.name == "similar":
        texts = [str(item.vars.get(match_on, "")) for item in items]
        index = build_index(spec.method, texts, spec.embedding_model)
    return ShotSelector(spec, items, match_on, balance_on, index)


def select_shots(
    selector: ShotSelector[Item], case: Record, k: int, seed: int | None = None
) -> tuple[Item, ...]:
    """The shots ``case`` sees under ``selector`` with ``k`` examples and ``seed``."""
    return selector.select(case, k, seed)
