"""Development and held-out cases: choose a winner on one set, report it on the other.

With many variants, the one that wins on a set of cases is partly the one that was lucky
on those cases, so its pass rate there is biased upward (the winner's curse). A split
experiment selects on the development cases and reports on held-out cases that played no
part in the choice. The split is seeded and stratified, so the same file always splits
the same way and each label keeps its share in both sets.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from harness.experiment.data import Case

__all__ = ["MIN_HELDOUT", "DEV", "HELDOUT", "CaseSplit", "split_cases"]

DEV = "dev"
HELDOUT = "heldout"
MIN_HELDOUT = 10  # fewer held-out cases cannot separate anything worth reporting


@dataclass(frozen=True)
class CaseSplit:
    """Which cases select (``dev``) and which report (``heldout``), by case id."""

    dev: frozenset[str]
    heldout: frozenset[str]

    def of(self, case_id: str) -> str:
        return DEV if case_id in self.dev else HELDOUT


def split_cases(
    cases: Sequence[Case], *, dev: float, seed: int, stratify_on: str | None = None
) -> CaseSplit:
    """A seeded split giving each stratum (the ``stratify_on`` field's value) ``dev`` of its
    cases for development, rounded so that the whole split is as close to ``dev`` as it
    can be; the rest are held out."""
    strata: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        label = case.vars.get(stratify_on) if stratify_on else None
        strata[repr(label)].append(case.id)
    wanted = round(dev * len(cases))
    shares = {key: dev * len(ids) for key, ids in strata.items()}
    counts = {key: int(share) for key, share in shares.items()}
    by_remainder = sorted(strata, key=lambda key: (-(shares[key] - counts[key]), key))
    for key in by_remainder[: max(0, wanted - sum(counts.values()))]:
        counts[key] += 1
    chosen: set[str] = set()
    for key in sorted(strata):
        ids = sorted(strata[key])
        random.Random(f"{seed}:{key}").shuffle(ids)
        chosen.update(ids[: counts[key]])
    every = {case.id for case in cases}
    return CaseSplit(frozenset(chosen), frozenset(every - chosen))
