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

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from harness.errors import HarnessError
from harness.experiment import DEV, HELDOUT, Experiment, SelectorSpec, Trust, plan_variants
from harness.shots import normalise_text

if TYPE_CHECKING:
    from harness._run.api import RunEstimate, RunResult
    from harness.stats import Paired

__all__ = ["Candidate", "Optimized", "SearchPlan", "Tried", "optimize_shots", "plan_search"]

DEFAULT_CANDIDATES = 12
OPTIMIZED = "optimized"  # the selector id of the set the search found
Log = Callable[[str], None]


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


@dataclass(frozen=True)
class Tried:
    """A candidate scored on the dev cases with one prompt."""

    candidate: Candidate
    prompt: str
    variant: str
    pass_rate: float
    cases: int


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


def _selectors(exp: Experiment) -> tuple[SelectorSpec, ...]:
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
    fixed = len(_selectors(exp)) + 1  # the selectors and the zero-shot baseline

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
        selectors=tuple(s.key for s in _selectors(exp)),
        requests=requests(m),
        reduced_from=wanted if m < wanted else None,
    )


def _dev_experiment(
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


class _Search:
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
        dev = _dev_experiment(self.exp, list(wanted), self.plan.model, counts, list(specs.values()))
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
        selectors = [Candidate(s.key, "selector", selector=s) for s in _selectors(self.exp)]
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
    dev = _dev_experiment(exp, plan.prompts, plan.model, [0, plan.k], [*_selectors(exp), *sets])
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


class _Dumper(yaml.SafeDumper):
    """Writes scalars as the experiment loader reads them: every scalar is a string, so
    ``0.5`` and ``2019-10-24`` stay plain; only what would read as null is quoted."""


_Dumper.yaml_implicit_resolvers = {}


def _plain_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    quoted = value.strip().lower() in ("", "~", "null")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if quoted else None)


_Dumper.add_representer(str, _plain_str)


def _raw_entry(entries: Any, match: Callable[[Any], bool]) -> Any:
    return next(e for e in entries if match(e))


def write_optimized(
    exp: Experiment,
    search: _Search,
    best: Tried,
    ordinary: Sequence[Tried],
    path: Path,
) -> Path:
    """The experiment file of the result: the winning prompt with zero shots (the
    baseline), the found set as a ``fixed`` selector, and the file's own selectors (best
    on dev first)."""
    from harness.experiment import ModelSpec

    plan = search.plan
    data = dict(exp.document.data)
    data["name"] = f"{exp.name}-optimized"
    data["prompts"] = [_raw_entry(data["prompts"], lambda e: e.get("id") == best.prompt)]
    data["models"] = [
        _raw_entry(data["models"], lambda e: ModelSpec.model_validate(e).key == plan.model)
    ]
    selectors: list[Any] = [{"name": "fixed", "id": OPTIMIZED, "ids": list(best.candidate.ids)}]
    for tried in ordinary:
        spec = tried.candidate.spec
        selectors.append(
            spec.model_dump(exclude_none=True, exclude_defaults=True) | {"name": spec.name}
        )
    best_selector = ordinary[0] if ordinary else None
    data.update(shots=["0", str(plan.k)], selectors=selectors, seeds=["0"])
    data["baseline"] = f"{best.prompt}/k0/{plan.model}"
    for key in ("finetune", "min_pass_rate", "rules"):
        data.pop(key, None)
    other = (
        f"; the best of the file's selectors, {best_selector.candidate.label}, "
        f"{100 * best_selector.pass_rate:.1f}%"
        if best_selector
        else ""
    )
    header = [
        f"# Written by `harness optimize` from {exp.path.name}: the fixed shots below",
        f"# ({OPTIMIZED}) passed {100 * best.pass_rate:.1f}% of {best.cases} dev cases, the best "
        f"of {len(search.tried)} candidates at k={plan.k}",
        f"# ({plan.random_sets} random sets, {plan.greedy_tries} greedy tries per step, the "
        f"file's selectors){other}.",
        "# Dev pass rates chose the winner and overstate it; the held-out cases did not take",
        "# part. Confirm with: harness run " + path.name + " --all-held-out",
    ]
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    path.write_text("\n".join(header) + "\n" + body, "utf-8")
    return path


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
    search = _Search(
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
    ordinary = [
        t for t in search.tried if t.candidate.kind == "selector" and t.prompt == best.prompt
    ]
    best_selector = max(ordinary, key=lambda t: t.pass_rate) if ordinary else None
    target = output or exp.path.with_name(f"{exp.path.stem}.optimized.yaml")
    if target.resolve().parent != exp.path.resolve().parent:
        raise HarnessError(
            f"{target}: write the optimised file beside {exp.path.name} (its data paths are relative)"
        )
    write_optimized(exp, search, best, ordinary, target)
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
