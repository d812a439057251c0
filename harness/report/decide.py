"""``harness decide``: is prompting enough, or should we fine-tune? Stated with evidence.

The best prompt variant is compared with each fine-tuned model on the same test cases
(paired difference, 95% interval, exact p), next to tokens and cost per query, the one-off
training cost, the query volume at which fine-tuning pays for itself, and the data-scaling
curve when nested training sizes were trained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tabulate import tabulate

from harness.home import adapter_meta_path, harness_home, hosted_jobs_path
from harness.report.summary import Summary, VariantSummary, case_scores, is_finetuned
from harness.results import Result
from harness.stats import Paired, paired_comparison

__all__ = ["DecidableRun", "Decision", "decide"]


class DecidableRun(Protocol):
    """What a decision reads from a run: its summary, its results and, for a split run,
    its dev table (a ``RunResult``)."""

    @property
    def summary(self) -> Summary: ...
    @property
    def results(self) -> Sequence[Result]: ...
    @property
    def selection(self) -> Summary | None: ...


@dataclass(frozen=True)
class Decision:
    text: str
    recommendation: str


def _per_case(outcome: DecidableRun, variant_id: str) -> dict[str, float]:
    results = outcome.results
    if outcome.summary.split is not None:
        results = [r for r in results if r.split == outcome.summary.split]
    scores = case_scores(results).get(variant_id, {})
    return {c: sum(v) / len(v) for c, v in scores.items()}


def _tokens(v: VariantSummary) -> float:
    return (v.tokens_in or 0.0) + (v.tokens_out or 0.0)


def _training_cost(model_id: str, home: Path) -> tuple[float | None, str]:
    """USD (None when free or unknown) and a human description of the one-off cost."""
    if model_id.startswith("local:") and "+" in model_id:
        meta = adapter_meta_path(home, model_id.split("+", 1)[1])
        if meta.exists():
            data = json.loads(meta.read_text("utf-8"))
            return None, (
                f"{data['seconds']:.0f} s of local {data.get('device', 'cpu')} "
                f"training on {data['examples']} examples"
            )
        return None, "local training (time not recorded)"
    record = hosted_jobs_path(home)
    if record.exists():
        for entry in json.loads(record.read_text("utf-8")).get("jobs", {}).values():
            if f"openai:{entry.get('fine_tuned_model')}" == model_id and entry.get(
                "trained_tokens"
            ):
                from harness.finetune.tokens import training_price

                price = training_price(str(entry.get("model", "")))
                if price is not None:
                    cost = entry["trained_tokens"] * price / 1e6
                    return cost, f"${cost:.2f} ({entry['trained_tokens']:,} trained tokens)"
    return None, "unknown"


def decide(outcome: DecidableRun, home: Path | None = None) -> Decision:
    """Compare the best prompt with each fine-tuned model. In a split run the best prompt
    is the one that won on the dev cases, and every number is on the held-out cases."""
    root = harness_home(home)
    summary = outcome.summary
    prompts = [v for v in summary.variants if not is_finetuned(v.variant)]
    tuned = [v for v in summary.variants if is_finetuned(v.variant)]
    chosen_on = outcome.selection
    if chosen_on is not None:
        on_dev = [v for v in chosen_on.variants if not is_finetuned(v.variant)]
        prompts = [v for d in on_dev[:1] for v in prompts if v.variant.id == d.variant.id]
    if not prompts or not tuned:
        return Decision(
            "nothing to decide: the run needs both prompt variants and fine-tuned "
            "models (declare `finetune:` in the experiment)",
            "none",
        )
    best = prompts[0]
    rows, notes = [], []
    verdicts: list[tuple[VariantSummary, Paired]] = []
    best_cases = _per_case(outcome, best.variant.id)
    for v in tuned:
        paired = paired_comparison(_per_case(outcome, v.variant.id), best_cases)
        verdicts.append((v, paired))
        cost_usd, cost_text = _training_cost(v.variant.model, root)
        saved = (best.cost_per_1k or 0.0) - (v.cost_per_1k or 0.0)
        breakeven = f"{cost_usd / saved * 1000:,.0f} queries" if cost_usd and saved > 0 else "—"
        rows.append(
            [
                v.variant.id,
                f"{100 * v.rate.rate:.1f}%",
                f"{100 * paired.diff:+.1f} [{100 * paired.low:+.0f}, {100 * paired.high:+.0f}]",
                f"{paired.p_value:.3g}",
                f"{_tokens(v):.0f}",
                "—" if v.cost_per_1k is None else f"{v.cost_per_1k:.4f}",
                cost_text,
                breakeven,
            ]
        )
    rows.insert(
        0,
        [
            best.variant.id + " (best prompt)",
            f"{100 * best.rate.rate:.1f}%",
            "—",
            "—",
            f"{_tokens(best):.0f}",
            "—" if best.cost_per_1k is None else f"{best.cost_per_1k:.4f}",
            "—",
            "—",
        ],
    )
    table = tabulate(
        rows,
        headers=[
            "variant",
            "pass rate",
            "Δ vs best prompt, pp [95% CI]",
            "p (exact)",
            "tokens/query",
            "$ / 1k queries",
            "training cost",
            "pays off after",
        ],
        tablefmt="simple",
        disable_numparse=True,
    )
    scaling = [(v, p) for v, p in verdicts if "-n" in v.variant.model.rsplit("+", 1)[-1]]
    if scaling:
        notes.append(
            "data-scaling curve (pass rate by training examples): "
            + ", ".join(
                f"{v.variant.model.rsplit('-n', 1)[-1]}: {100 * v.rate.rate:.0f}%"
                for v, _ in sorted(
                    scaling, key=lambda item: int(item[0].variant.model.rsplit("-n", 1)[-1])
                )
            )
        )
    top, paired = max(verdicts, key=lambda item: item[0].rate.rate)
    fewer = 1 - _tokens(top) / _tokens(best) if _tokens(best) else 0.0
    evidence = (
        f"{top.variant.id} passes {100 * top.rate.rate:.1f}% against "
        f"{100 * best.rate.rate:.1f}% for the best prompt ({best.variant.id}): "
        f"{100 * paired.diff:+.1f} points [95% CI {100 * paired.low:+.1f} to "
        f"{100 * paired.high:+.1f}], exact paired p = {paired.p_value:.3g} over "
        f"{paired.cases} shared cases"
    )
    if paired.p_value < 0.05 and paired.low > 0:
        recommendation = "fine-tune"
        text = (
            f"Fine-tune. {evidence}. It also sends {100 * fewer:.0f}% fewer tokens per "
            "query, since it needs no examples in the prompt."
        )
    elif paired.p_value < 0.05 and paired.high < 0:
        recommendation = "prompt"
        text = f"Keep prompting. {evidence}; the fine-tuned model is worse."
    else:
        recommendation = "undecided"
        need = paired.cases_needed
        more = f"about {max(need - paired.cases, 0)} more test cases" if need else "more test cases"
        text = (
            f"Not yet distinguishable. {evidence}. To tell them apart at 80% power you "
            f"would need {more}."
            + (
                f" The fine-tuned model sends {100 * fewer:.0f}% fewer tokens per query."
                if fewer > 0
                else ""
            )
        )
    if chosen_on is not None:
        dev_cases = max((v.rate.cases for v in chosen_on.variants), default=0)
        text += (
            f" The best prompt was chosen on {dev_cases} dev cases; this comparison is on "
            f"{paired.cases} held-out cases that took no part in the choice."
        )
    body = "\n".join([table, *notes, "", "Recommendation: " + text])
    return Decision(body, recommendation)
