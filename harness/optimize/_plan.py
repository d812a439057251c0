"""The search's plan: its candidates, its size within a request budget, and its cost.

Shots come only from pool items that are not a twin of any test case (dev or held-out),
so no test case is ever shown to the model as an example; the experiment the search runs
holds the dev cases only.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from harness.errors import HarnessError
from harness.experiment import DEV, Experiment, SelectorSpec, plan_variants
from harness.shots import normalise_text

if TYPE_CHECKING:
    from harness._run.api import RunEstimate

__all__ = [
    "DEFAULT_CANDIDATES",
    "OPTIMIZED",
    "Candidate",
    "SearchCost",
    "SearchPlan",
    "dev_experiment",
    "eligible_shots",
    "estimate_search",
    "file_selectors",
    "plan_search",
]

DEFAULT_CANDIDATES = 12
OPTIMIZED = "optimized"  # the selector id of the set the search found


@dataclass(frozen=True)
class Candidate:
    """A way of choosing shots: a fixed set of pool ids, or one of the file's selectors."""

    label: str  # the selector id in variant ids
    kind: Literal["random", "greedy", "selector"]
    ids: tuple[str, ...] = ()
    selector: SelectorSpec | None = None

    @property
    def spec(self) -> SelectorSpec:
        if self.selector is not None:
            return self.selector
        return SelectorSpec.model_validate({"name": "fixed", "id": self.label, "ids": self.ids})


@dataclass(frozen=True)
class SearchPlan:
    """What the search will run on the dev cases, counted before anything is sent."""

    prompts: tuple[str, ...]
    model: str
    k: int
    dev_cases: int
    heldout_cases: int
    eligible: int  # pool items that may be shots (not twins of any test case)
    random_sets: int  # per prompt
    greedy_tries: int  # per prompt and greedy step (k steps)
    selectors: tuple[str, ...]  # the file's selectors, tried as candidates too
    requests: int  # dev requests of the whole search (the cache may answer some)
    estimate: RunEstimate | None = None  # tokens and cost of the first stages
    reduced_from: int | None = None  # candidates asked for, when the budget cut them

    @property
    def candidates(self) -> int:
        """Candidates at k shots among which the winner is chosen (the Holm family)."""
        return len(self.prompts) * (self.random_sets + self.greedy_tries + len(self.selectors))


def _require_split(exp: Experiment) -> None:
    if exp.split is None:
        raise HarnessError(
            f"{exp.display}: optimize chooses on dev cases and reports on held-out ones; "
            "give the experiment a split (tests: {split: {dev: 0.5, seed: 0}}) or a dev_file"
        )


def eligible_shots(exp: Experiment) -> list[str]:
    """Pool ids that may be shown as shots: none is a twin of any test case."""
    match_on = exp.spec.examples.match_on if exp.spec.examples else "input"
    taken = {normalise_text(c.vars[match_on]) for c in exp.cases if match_on in c.vars}
    return [
        item.id for item in exp.pool if normalise_text(item.vars.get(match_on, "")) not in taken
    ]


def _model_key(exp: Experiment, model: str | None) -> str:
    keys = [m.key for m in exp.spec.models]
    if model is None:
        return keys[0]
    if model not in keys:
        raise HarnessError(f"--model {model!r} is not one of the experiment's models: {keys}")
    return model


def _prompt_ids(exp: Experiment, prompt: str | None) -> tuple[str, ...]:
    ids = tuple(p.id for p in exp.spec.prompts)
    if prompt is None:
        return ids
    if prompt not in ids:
        raise HarnessError(f"--prompt {prompt!r} is not one of the experiment's prompts: {ids}")
    return (prompt,)


def file_selectors(exp: Experiment) -> tuple[SelectorSpec, ...]:
    return tuple(s for s in exp.spec.selectors if s.key != OPTIMIZED)


def plan_search(
    exp: Experiment,
    *,
    prompt: str | None = None,
    model: str | None = None,
    k: int = 3,
    candidates: int = DEFAULT_CANDIDATES,
    budget_requests: int | None = None,
) -> SearchPlan:
    """The search's size: half the candidates random sets, half the last greedy step (each
    greedy step tries that many additions), cut to fit ``budget_requests`` dev requests."""
    _require_split(exp)
    if k < 1:
        raise HarnessError("--k must be at least 1")
    prompts, key = _prompt_ids(exp, prompt), _model_key(exp, model)
    eligible = eligible_shots(exp)
    if len(eligible) < k + 1:
        raise HarnessError(
            f"{exp.display}: {len(eligible)} pool item(s) may be shots (the others are twins "
            f"of test cases); a search for {k} needs at least {k + 1}"
        )
    dev = len(exp.split.dev) if exp.split else 0
    per_eval = dev * exp.spec.repeats
    fixed = len(file_selectors(exp)) + 1  # the selectors and the zero-shot baseline

    def requests(m: int) -> int:
        random_sets, greedy = m // 2, m - m // 2
        return len(prompts) * per_eval * (fixed + random_sets + k * greedy)

    wanted = max(2, candidates)
    m = wanted
    if budget_requests is not None:
        while m > 2 and requests(m) > budget_requests:
            m -= 1
        if requests(m) > budget_requests:
            raise HarnessError(
                f"--budget-requests {budget_requests} is too small: the smallest search "
                f"(2 candidates) needs {requests(m)} dev requests"
            )
    return SearchPlan(
        prompts=prompts,
        model=key,
        k=k,
        dev_cases=dev,
        heldout_cases=len(exp.split.heldout) if exp.split else 0,
        eligible=len(eligible),
        random_sets=m // 2,
        greedy_tries=m - m // 2,
        selectors=tuple(s.key for s in file_selectors(exp)),
        requests=requests(m),
        reduced_from=wanted if m < wanted else None,
    )


def dev_experiment(
    exp: Experiment,
    prompts: Sequence[str],
    model: str,
    shots: Sequence[int],
    selectors: Sequence[SelectorSpec],
) -> Experiment:
    """The experiment the search runs: only dev cases, the given prompts and selectors."""
    spec = exp.spec.model_copy(
        update={
            "name": f"{exp.name}-optimize",
            "prompts": [p for p in exp.spec.prompts if p.id in prompts],
            "models": [m for m in exp.spec.models if m.key == model],
            "shots": list(shots),
            "selectors": list(selectors),
            "seeds": [0],
            "baseline": None,
            "min_pass_rate": None,
            "finetune": [],
        }
    )
    return replace(
        exp,
        spec=spec,
        prompts=tuple(p for p in exp.prompts if p.id in prompts),
        cases=exp.cases_in(DEV),
        variants=plan_variants(spec),
        split=None,
    )


@dataclass(frozen=True)
class SearchCost:
    """The search's dev requests, prompt tokens and worst-case cost, before sending."""

    requests: int
    prompt_tokens: int
    cost: float | None  # USD, every request at max_tokens; None when the model is unpriced


def estimate_search(exp: Experiment, plan: SearchPlan, *, seed: int = 0) -> SearchCost:
    """Render the file's selectors, zero-shot and random sets exactly; count the greedy
    steps at a full set's size (an upper bound: their sets grow from one example to k)."""
    from harness._run.api import estimate

    rng = random.Random(seed)
    eligible = eligible_shots(exp)
    sets = [
        Candidate(f"set{n + 1:02d}", "random", tuple(rng.sample(eligible, plan.k))).spec
        for n in range(max(1, plan.random_sets))
    ]
    dev = dev_experiment(exp, plan.prompts, plan.model, [0, plan.k], [*file_selectors(exp), *sets])
    rows = estimate(dev).variants
    fixed = [e for e in rows if f"/k{plan.k}/set" not in e.variant]
    drawn = [e for e in rows if f"/k{plan.k}/set" in e.variant]
    drawn_requests = max(1, sum(e.requests for e in drawn))
    per_request = sum(e.prompt_tokens for e in drawn) / drawn_requests
    sets_requests = plan.requests - sum(e.requests for e in fixed)  # random and greedy
    priced = all(e.cost is not None for e in rows)
    cost_per = sum(e.cost or 0.0 for e in drawn) / drawn_requests
    return SearchCost(
        requests=plan.requests,
        prompt_tokens=sum(e.prompt_tokens for e in fixed) + round(per_request * sets_requests),
        cost=sum(e.cost or 0.0 for e in fixed) + cost_per * sets_requests if priced else None,
    )
