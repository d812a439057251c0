"""``harness optimize``: search for a better fixed set of shots on dev cases, confirm it on
held-out cases.

Tools that optimise few-shot prompts (DSPy's BootstrapFewShot, MIPRO) report the result on
the data they optimised on, where the best of many candidates always looks good. Here the
search sees only the experiment's development cases: random sets drawn from the pool, sets
built greedily one example at a time, and the experiment's own selectors, each scored on
dev. The best set is written as a ``fixed`` selector into ``EXP.optimized.yaml`` and run
with the zero-shot baseline and the best ordinary selector on the held-out cases, where
the gain either holds or it does not.

Shots come only from pool items that are not a twin of any test case (dev or held-out),
so no test case is ever shown to the model as an example, and a held-out case never
influences which candidate wins: it is not in the experiment the search runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError
from harness.experiment import HELDOUT, Experiment, Trust
from harness.optimize._file import write_optimized
from harness.optimize._plan import (
    DEFAULT_CANDIDATES,
    OPTIMIZED,
    Candidate,
    SearchCost,
    SearchPlan,
    eligible_shots,
    estimate_search,
    plan_search,
)
from harness.optimize._search import Log, Search, Tried

if TYPE_CHECKING:
    from harness._run.api import RunResult
    from harness.stats import Paired

__all__ = [
    "Against",
    "Candidate",
    "Optimized",
    "SearchCost",
    "SearchPlan",
    "Tried",
    "eligible_shots",
    "estimate_search",
    "optimize_shots",
    "plan_search",
]


@dataclass(frozen=True)
class Against:
    """The optimised shots against another variant, on the held-out cases."""

    name: str  # "zero-shot" or the selector's id
    variant: str
    paired: Paired  # optimised minus the other, per held-out case
    p_holm: float  # Holm-adjusted over the candidates the search tried


@dataclass(frozen=True)
class Optimized:
    """The search, the file it wrote, and what held-out cases said about it."""

    plan: SearchPlan
    tried: tuple[Tried, ...]  # every candidate at k shots, best on dev first
    best: Tried
    best_selector: Tried | None  # the file's selector that did best on dev
    path: Path
    heldout: RunResult
    against: tuple[Against, ...]  # zero-shot first, then the file's selectors
    verdict: str
    stopped: str | None = None  # why the search ended early (budget), if it did

    @property
    def baseline(self) -> Against:
        return self.against[0]

    def versus(self, name: str) -> Against:
        return next(a for a in self.against if a.name == name)


def _adjusted(p: float, family: int) -> float:
    """Holm over the candidates tried: the winner's test is the family's smallest p."""
    from harness.stats import holm

    return holm([p] + [1.0] * max(0, family - 1))[0]


def _verdict(
    best: Tried,
    heldout: RunResult,
    against: Sequence[Against],
    selector: Tried | None,
    family: int,
) -> str:
    """Plain words: the held-out pass rate, and whether the gain over zero-shot and over
    the selector that did best on dev holds on held-out cases."""
    rate = heldout.variant(best_id(heldout)).pass_rate
    cases = against[0].paired.cases
    parts = [
        f"The optimised shots pass {100 * rate:.1f}% of {cases} held-out cases (they passed "
        f"{100 * best.pass_rate:.1f}% of the dev cases that chose them)."
    ]
    named = [against[0]]
    if selector is not None:
        named += [a for a in against if a.name == selector.candidate.label]
    for item in named:
        what = "zero-shot (the baseline)" if item.name == "zero-shot" else f"{item.name}"
        paired = item.paired
        change = (
            f"{100 * paired.diff:+.1f} points [95% CI {100 * paired.low:+.1f} to "
            f"{100 * paired.high:+.1f}], p = {item.p_holm:.3g} (Holm over {family} candidates)"
        )
        holds = paired.diff > 0 and item.p_holm < 0.05
        parts.append(
            f"Against {what}: {change}: the gain "
            + ("holds on held-out cases." if holds else "does not hold on held-out cases.")
        )
    return " ".join(parts)


def best_id(heldout: RunResult) -> str:
    return next(v for v in heldout.variants if f"/{OPTIMIZED}/" in v)


def _target(exp: Experiment, output: Path | None) -> Path:
    """Where the result goes: beside EXP (its data paths are relative), never over EXP."""
    target = output or exp.path.with_name(f"{exp.path.stem}.optimized.yaml")
    if target.resolve().parent != exp.path.resolve().parent:
        raise HarnessError(
            f"{target}: write the optimised file beside {exp.path.name} (its data paths are "
            "relative)"
        )
    if target.resolve() == exp.path.resolve():
        raise HarnessError(f"{target}: the optimised file would replace the experiment itself")
    return target


def optimize_shots(
    exp: Experiment,
    *,
    prompt: str | None = None,
    model: str | None = None,
    k: int = 3,
    candidates: int = DEFAULT_CANDIDATES,
    budget_requests: int | None = None,
    max_cost: float | None = None,
    seed: int = 0,
    home: Path | None = None,
    concurrency: int | None = None,
    output: Path | None = None,
    progress: bool | None = None,
    trust: Trust | None = None,
    log: Log = lambda text: None,
) -> Optimized:
    """Search for a better fixed set of ``k`` shots on ``exp``'s dev cases, write it into
    ``EXP.optimized.yaml`` (or ``output``, in the same folder) and confirm it on the
    held-out cases against zero-shot and the best of the file's selectors (``trust``: what
    the user allowed the original file, which the written one needs too)."""
    from harness._run.api import run
    from harness.experiment import load_experiment
    from harness.report.summary import case_scores
    from harness.stats import paired_comparison

    plan = plan_search(
        exp,
        prompt=prompt,
        model=model,
        k=k,
        candidates=candidates,
        budget_requests=budget_requests,
    )
    target = _target(exp, output)  # checked before any request is sent
    search = Search(
        exp,
        plan,
        seed=seed,
        home=home,
        concurrency=concurrency,
        max_cost=max_cost,
        progress=progress,
        log=log,
    )
    search.run()
    fixed = [t for t in search.tried if t.candidate.kind != "selector"]
    if not fixed:
        raise HarnessError(f"the search stopped before any candidate was scored: {search.stopped}")
    ranked = sorted(search.tried, key=lambda t: -t.pass_rate)
    best = max(fixed, key=lambda t: t.pass_rate)
    ordinary = sorted(  # the file's selectors with the winning prompt, best on dev first
        (t for t in search.tried if t.candidate.kind == "selector" and t.prompt == best.prompt),
        key=lambda t: -t.pass_rate,
    )
    best_selector = ordinary[0] if ordinary else None
    write_optimized(exp, plan, len(search.tried), best, ordinary, target)
    log(f"wrote {target}; running it on the {plan.heldout_cases} held-out cases")
    optimized = load_experiment(target, trust=trust)
    remaining = search.remaining()
    heldout = run(
        optimized,
        home=home,
        concurrency=concurrency,
        max_cost=remaining,
        progress=progress,
        all_heldout=True,
    )
    scores = case_scores([r for r in heldout.results if r.split == HELDOUT])
    means = {v: {c: sum(s) / len(s) for c, s in cs.items()} for v, cs in scores.items()}
    mine = best_id(heldout)
    family = len(search.tried)
    others = [("zero-shot", f"{best.prompt}/k0/{plan.model}")]
    for tried in ordinary:
        prefix = f"{best.prompt}/k{plan.k}/{tried.candidate.label}/"
        others += [(tried.candidate.label, v) for v in heldout.variants if v.startswith(prefix)]
    against = []
    for name, variant in others:
        paired = paired_comparison(means.get(mine, {}), means.get(variant, {}))
        against.append(Against(name, variant, paired, _adjusted(paired.p_value, family)))
    verdict = _verdict(best, heldout, against, best_selector, family)
    return Optimized(
        plan,
        tuple(ranked),
        best,
        best_selector,
        target,
        heldout,
        tuple(against),
        verdict,
        search.stopped,
    )
