"""The search itself: stages of candidates, each scored on the dev cases by a real run."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.experiment import Experiment
from harness.optimize._plan import (
    Candidate,
    SearchPlan,
    dev_experiment,
    eligible_shots,
    file_selectors,
)

__all__ = ["Log", "Search", "Tried"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class Tried:
    """A candidate scored on the dev cases with one prompt."""

    candidate: Candidate
    prompt: str
    variant: str
    pass_rate: float
    cases: int


class Search:
    """Runs the search's stages on dev cases, within the request plan and the cost budget."""

    def __init__(
        self,
        exp: Experiment,
        plan: SearchPlan,
        *,
        seed: int,
        home: Path | None,
        concurrency: int | None,
        max_cost: float | None,
        progress: bool | None,
        log: Log,
    ) -> None:
        self.exp, self.plan, self.log = exp, plan, log
        self.rng = random.Random(seed)
        self.home, self.concurrency, self.progress = home, concurrency, progress
        self.max_cost = max_cost
        self.spent = 0.0
        self.stopped: str | None = None
        self.tried: list[Tried] = []
        self.baseline_dev: dict[str, float] = {}
        self.eligible = eligible_shots(exp)

    def remaining(self) -> float | None:
        return None if self.max_cost is None else max(0.0, self.max_cost - self.spent)

    def evaluate(
        self, shots: int, wanted: dict[str, list[Candidate]], zero_shot: bool = False
    ) -> list[Tried]:
        """Score each prompt's candidates (and, with ``zero_shot``, the prompt alone)."""
        from harness._run.api import run

        specs = {c.label: c.spec for cs in wanted.values() for c in cs}
        counts = [0, shots] if zero_shot else [shots]
        dev = dev_experiment(self.exp, list(wanted), self.plan.model, counts, list(specs.values()))
        labels = {(p, c.label): c for p, cs in wanted.items() for c in cs}
        ids = [
            v.id
            for v in dev.variants
            if (v.prompt, v.selector) in labels or (zero_shot and v.shots == 0)
        ]
        result = run(
            dev,
            variants=ids,
            home=self.home,
            concurrency=self.concurrency,
            max_cost=self.remaining(),
            progress=self.progress,
        )
        self.spent += result.stats.cost
        if result.aborted:
            self.stopped = result.aborted
        out = []
        for row in result.summary.variants:
            v = row.variant
            if v.shots == 0:
                self.baseline_dev[v.prompt] = row.rate.rate
                continue
            candidate = labels[(v.prompt, v.selector or "")]
            out.append(Tried(candidate, v.prompt, v.id, row.rate.rate, row.rate.cases))
        return out

    def run(self) -> None:
        plan = self.plan
        selectors = [Candidate(s.key, "selector", selector=s) for s in file_selectors(self.exp)]
        self.log(f"dev: the file's selectors and zero-shot ({len(selectors)} at k={plan.k})")
        self.tried += self.evaluate(plan.k, {p: selectors for p in plan.prompts}, zero_shot=True)
        sets: list[Candidate] = []
        seen: set[frozenset[str]] = set()
        for _ in range(plan.random_sets * 20):  # distinct sets, while the pool allows
            if len(sets) == plan.random_sets:
                break
            ids = tuple(self.rng.sample(self.eligible, plan.k))
            if frozenset(ids) not in seen:
                seen.add(frozenset(ids))
                sets.append(Candidate(f"set{len(sets) + 1:02d}", "random", ids))
        if sets and not self.stopped:
            self.log(f"dev: {len(sets)} random sets of {plan.k}")
            self.tried += self.evaluate(plan.k, {p: sets for p in plan.prompts})
        for prompt in plan.prompts:
            self.greedy(prompt)

    def greedy(self, prompt: str) -> None:
        """Grow a set one example at a time, keeping the addition that scores best on dev."""
        current: tuple[str, ...] = ()
        for step in range(1, self.plan.k + 1):
            if self.stopped:
                return
            left = [i for i in self.eligible if i not in current]
            picks = self.rng.sample(left, min(self.plan.greedy_tries, len(left)))
            tries = [
                Candidate(f"greedy{step}-{n + 1:02d}", "greedy", (*current, pick))
                for n, pick in enumerate(picks)
            ]
            self.log(f"dev: greedy step {step}/{self.plan.k} for {prompt} ({len(tries)} tries)")
            scored = self.evaluate(step, {prompt: tries})
            if step == self.plan.k:
                self.tried += scored
            if scored:
                best = max(scored, key=lambda t: t.pass_rate)  # first of equals: stable
                current = best.candidate.ids
