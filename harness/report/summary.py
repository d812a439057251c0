"""Per-variant statistics and paired comparisons: the numbers behind every table."""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.adapter_records import exported_training
from harness.experiment import DEV, HELDOUT, Variant
from harness.results import Result
from harness.stats import Paired, Rate, holm, paired_comparison, pass_rate

__all__ = [
    "Summary",
    "VariantSummary",
    "case_scores",
    "heldout_candidates",
    "is_finetuned",
    "summarize",
    "summarize_run",
    "threshold_for",
]

ALPHA = 0.05


@dataclass(frozen=True)
class VariantSummary:
    variant: Variant
    n: int
    passed: int
    failed: int
    errors: int
    rate: Rate
    vs_best: Paired | None
    p_best: float | None  # Holm-adjusted
    vs_baseline: Paired | None
    p_baseline: float | None
    latency_ms: float | None
    tokens_in: float | None
    tokens_out: float | None
    cost_per_1k: float | None
    is_best: bool
    indistinguishable: bool
    threshold: float | None

    @property
    def meets_threshold(self) -> bool | None:
        if self.threshold is None:
            return None
        return self.errors == 0 and self.rate.rate >= self.threshold


@dataclass(frozen=True)
class Summary:
    variants: list[VariantSummary]  # best first, then by pass rate
    best: str | None
    baseline: str | None
    split: str | None = None  # dev or heldout: the cases every number here comes from

    @property
    def failing(self) -> list[VariantSummary]:
        return [v for v in self.variants if v.meets_threshold is False]

    def get(self, variant_id: str) -> VariantSummary:
        for v in self.variants:
            if v.variant.id == variant_id:
                return v
        raise KeyError(variant_id)


def case_scores(results: Sequence[Result]) -> dict[str, dict[str, list[float]]]:
    """variant -> case -> 0/1 per scored repeat (errors excluded)."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.passed is not None:
            out[r.variant][r.case].append(1.0 if r.passed else 0.0)
    return out


def threshold_for(variant_id: str, setting: float | Mapping[str, float] | None) -> float | None:
    if setting is None or isinstance(setting, (int, float)):
        return setting
    for pattern, value in setting.items():
        if variant_id == pattern or fnmatch.fnmatchcase(variant_id, pattern):
            return value
    return None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(
    variants: Sequence[Variant],
    results: Sequence[Result],
    *,
    baseline: str | None = None,
    min_pass_rate: float | Mapping[str, float] | None = None,
    split: str | None = None,
    chosen: str | None = None,
) -> Summary:
    """Each variant's pass rate and its paired comparisons with the best and the baseline,
    over ``results`` (of ``split``'s cases only, when given). The best is the highest pass
    rate, or ``chosen`` when given: a split run's held-out table compares with the variant
    the dev cases chose, since picking the best again on held-out cases would be a second
    selection on the cases meant to report."""
    if split is not None:
        results = [r for r in results if r.split == split]
    scores = case_scores(results)
    by_variant: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_variant[r.variant].append(r)
    rates = {v.id: pass_rate(scores.get(v.id, {})) for v in variants}
    means = {vid: {c: sum(s) / len(s) for c, s in cs.items()} for vid, cs in scores.items()}
    order = {v.id: i for i, v in enumerate(variants)}
    ranked = sorted(variants, key=lambda v: (v.id != chosen, -rates[v.id].rate, order[v.id]))
    best = ranked[0].id if ranked and rates[ranked[0].id].cases else None
    if baseline is not None and baseline not in rates:
        baseline = None

    def compare(ref: str | None) -> tuple[dict[str, Paired], dict[str, float]]:
        if ref is None:
            return {}, {}
        paired = {
            v.id: paired_comparison(means.get(v.id, {}), means.get(ref, {}))
            for v in variants
            if v.id != ref
        }
        ids = list(paired)
        adjusted = holm([paired[i].p_value for i in ids])
        return paired, dict(zip(ids, adjusted, strict=True))

    vs_best, p_best = compare(best)
    vs_base, p_base = compare(baseline)
    rows = []
    for v in ranked:
        mine = by_variant.get(v.id, [])
        scored = [r for r in mine if r.passed is not None]
        answered = [r for r in mine if r.error is None]
        costs = [r.cost for r in answered if r.cost is not None]
        n_cases = len({r.case for r in mine}) or 1
        p = p_best.get(v.id)
        rows.append(
            VariantSummary(
                variant=v,
                n=len(mine),
                passed=sum(bool(r.passed) for r in scored),
                failed=sum(r.passed is False for r in scored),
                errors=sum(r.error is not None for r in mine),
                rate=rates[v.id],
                vs_best=vs_best.get(v.id),
                p_best=p,
                vs_baseline=vs_base.get(v.id),
                p_baseline=p_base.get(v.id),
                latency_ms=_mean([r.latency_ms for r in answered if r.latency_ms is not None]),
                tokens_in=_mean(
                    [float(r.prompt_tokens) for r in answered if r.prompt_tokens is not None]
                ),
                tokens_out=_mean(
                    [
                        float(r.completion_tokens)
                        for r in answered
                        if r.completion_tokens is not None
                    ]
                ),
                cost_per_1k=(sum(costs) / n_cases * 1000) if costs else None,
                is_best=v.id == best,
                indistinguishable=v.id != best and p is not None and p >= ALPHA,
                threshold=threshold_for(v.id, min_pass_rate),
            )
        )
    return Summary(rows, best, baseline, split)


def summarize_run(
    variants: Sequence[Variant],
    results: Sequence[Result],
    *,
    baseline: str | None = None,
    min_pass_rate: float | Mapping[str, float] | None = None,
) -> tuple[Summary, Summary | None]:
    """The run's answer and, for a split run, its selection step.

    An unsplit run answers with every result. A split run answers with its held-out
    results, for the variants that were run on them, and keeps the development summary
    (every variant, where the winner was chosen) as the second value. A split run that
    stopped before any held-out case answers with its development summary, labelled so.
    """
    if not any(r.split is not None for r in results):
        return summarize(variants, results, baseline=baseline, min_pass_rate=min_pass_rate), None
    dev = summarize(variants, results, baseline=baseline, min_pass_rate=min_pass_rate, split=DEV)
    held = {r.variant for r in results if r.split == HELDOUT}
    if not held:
        return dev, None
    answer = summarize(
        [v for v in variants if v.id in held],
        results,
        baseline=baseline,
        min_pass_rate=min_pass_rate,
        split=HELDOUT,
        chosen=dev.best,
    )
    return answer, dev


def is_finetuned(variant: Variant) -> bool:
    """A variant of a fine-tuned model: a local LoRA adapter (``local:BASE+ADAPTER``), a
    hosted ``ft:`` model, or a model that serves an adapter trained here (its ``adapter``
    option: ``openai:date-lora`` on a vLLM or llama.cpp server), or a merged export of one
    (``local:FOLDER`` whose folder records the training run)."""
    if variant.adapter is not None or "+" in variant.model or ":ft:" in variant.model:
        return True
    return exported_training(variant.model) is not None


def heldout_candidates(dev: Summary) -> list[str]:
    """What a split run confirms on held-out cases: the dev winner, the variants the dev
    cases could not separate from it (≈) and the baseline; with fine-tuned models, also
    every fine-tuned model and the best prompt on the base models, which ``decide``
    compares."""
    chosen = [v.variant.id for v in dev.variants if v.is_best or v.indistinguishable]
    tuned = [v.variant.id for v in dev.variants if is_finetuned(v.variant)]
    prompts = [v.variant.id for v in dev.variants if not is_finetuned(v.variant)]
    extra = [dev.baseline] if dev.baseline is not None else []
    if tuned:
        extra += tuned + prompts[:1]
    return chosen + [v for i, v in enumerate(extra) if v not in chosen and v not in extra[:i]]
