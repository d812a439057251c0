"""``harness decide``: is prompting enough, or should we fine-tune? Stated with evidence.

The best prompt variant is compared with each fine-tuned model on the same test cases
(paired difference, 95% interval, exact p), next to tokens and cost per query, the one-off
training cost, the query volume at which fine-tuning pays for itself, and the data-scaling
curve when nested training sizes were trained.

Models priced by tokens (API models) cost what their tokens cost. Local models, and models
served elsewhere with a ``compute_price``, cost the machine time they took: each answer
records its machine seconds (``Result.compute_s``: a local batch's time split among its
rows, a server's time split among the requests in flight, either shared with whatever else
ran on that machine at once), and a query costs the variant's mean seconds per answered
request times the machine's USD per hour (``compute_price``, else for a CPU
``DEFAULT_CPU_HOUR_PRICE``) / 3600. A cached answer keeps the time measured when it was
generated: it says what answering that query costs, though the run that reused it spent
none (``RunStats.compute_s`` counts only the time spent). A local adapter's training costs
its recorded training seconds at the same price, so the break-even, training cost over the
saving per query against the best prompt (which pays for its longer prompt in machine
time), is a number of queries for local models too. A model that serves an adapter trained
here (its ``adapter`` option) is that adapter's fine-tuned model, its training included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tabulate import tabulate

from harness.adapter_records import adapter_record, exported_training
from harness.errors import FinetuneError
from harness.experiment import Variant
from harness.home import adapter_meta_path, harness_home, hosted_jobs_path
from harness.models.pricing import DEFAULT_CPU_HOUR_PRICE
from harness.report.summary import Summary, VariantSummary, case_scores, is_finetuned
from harness.results import Result
from harness.stats import Paired, paired_comparison

__all__ = ["DecidableRun", "Decision", "MachineCost", "decide", "machine_cost", "require_adapters"]


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


def _in_split(outcome: DecidableRun) -> Sequence[Result]:
    results = outcome.results
    if outcome.summary.split is not None:
        results = [r for r in results if r.split == outcome.summary.split]
    return results


def _per_case(outcome: DecidableRun, variant_id: str) -> dict[str, float]:
    scores = case_scores(_in_split(outcome)).get(variant_id, {})
    return {c: sum(v) / len(v) for c, v in scores.items()}


def _tokens(v: VariantSummary) -> float:
    return (v.tokens_in or 0.0) + (v.tokens_out or 0.0)


@dataclass(frozen=True)
class MachineCost:
    """What a variant's queries cost in machine time, and the price it is charged at."""

    seconds: float | None  # mean machine seconds per answered request; None: none timed
    timed: int  # answers with a machine time
    cached: int  # of which cached: timed when they were generated, free in this run
    answered: int
    price: float | None  # USD per machine-hour; None: unknown
    price_source: str  # how the price was found, for the reader
    devices: tuple[str, ...]  # where the timed answers ran (empty: a server elsewhere)

    @property
    def per_1k(self) -> float | None:
        """USD per 1000 queries."""
        if self.seconds is None or self.price is None:
            return None
        return self.seconds * self.price / 3600 * 1000


def adapter_of(variant: Variant) -> tuple[str, bool] | None:
    """The adapter a fine-tuned variant's model is, and whether its entry named it
    (``adapter:``) rather than its id (``local:BASE+ADAPTER``)."""
    if variant.adapter is not None:
        return variant.adapter, True
    if variant.model.startswith("local:") and "+" in variant.model:
        return variant.model.split("+", 1)[1], False
    merged = exported_training(variant.model)
    if merged is not None:
        return str(merged["exported_from"]), False
    return None


def _explicit_price(variant: Variant, others: Iterable[Variant]) -> tuple[float, str] | None:
    """The model's own ``compute_price``, else for a local adapter its base model's."""
    if variant.compute_price is not None:
        return variant.compute_price, f"compute_price of {variant.model}"
    if variant.model.startswith("local:") and "+" in variant.model:
        base = variant.model.split("+", 1)[0]
        for other in others:
            if other.model == base and other.compute_price is not None:
                return other.compute_price, f"compute_price of its base {base}"
    return None


def _priced_by_compute(variant: Variant, answered: Sequence[Result]) -> bool:
    return (
        variant.compute_price is not None
        or variant.model.startswith("local:")
        or any(r.compute_s is not None for r in answered)
    )


def machine_cost(
    variant: Variant, results: Iterable[Result], others: Iterable[Variant] = ()
) -> MachineCost:
    """The machine time ``variant``'s answers in ``results`` took per query, and its price:
    the model's ``compute_price`` (a local adapter's base's when it has none), else for
    answers timed on a CPU ``DEFAULT_CPU_HOUR_PRICE``."""
    answered = [r for r in results if r.variant == variant.id and r.error is None]
    timed = [r for r in answered if r.compute_s is not None]
    devices = tuple(sorted({r.compute_device for r in timed if r.compute_device is not None}))
    seconds = sum(r.compute_s or 0.0 for r in timed) / len(timed) if timed else None
    explicit = _explicit_price(variant, others)
    if explicit is not None:
        price, source = explicit
    elif timed and all(r.compute_device == "cpu" for r in timed):
        price, source = DEFAULT_CPU_HOUR_PRICE, "default CPU price"
    else:
        price, source = None, "no price"
    return MachineCost(
        seconds, len(timed), sum(r.cached for r in timed), len(answered), price, source, devices
    )


def require_adapters(names: Iterable[str], home: Path | None = None) -> None:
    """Raise :class:`FinetuneError` unless every adapter named exists in ``home`` (a model
    that serves one, ``adapter: NAME``, is linked to its training run through it)."""
    root = harness_home(home)
    for name in names:
        if not adapter_meta_path(root, name).exists():
            raise FinetuneError(
                f"a model serves adapter {name!r} (its `adapter` option), but {root} has no "
                f"trained adapter {name!r} (no {adapter_meta_path(root, name)}): train it with "
                f"`harness finetune train DATA --name {name}` in this harness home "
                "(HARNESS_HOME, --home), or name the adapter it serves"
            )


def _adapter_meta(name: str, explicit: bool, home: Path) -> dict[str, Any] | None:
    if explicit:
        require_adapters([name], home)
    return adapter_record(home, name)  # a damaged record: the cost is unknown, not a crash


def _training_cost(
    variant: Variant, home: Path, price: tuple[float, str] | None
) -> tuple[float | None, str]:
    """USD (None when free or unknown) and a human description of the one-off cost.

    A local adapter's training costs its recorded seconds at ``price`` (the model's
    ``compute_price``), else, trained on a CPU, at ``DEFAULT_CPU_HOUR_PRICE``."""
    model_id = variant.model
    adapter = adapter_of(variant)
    if adapter is not None:
        # a merged export's own record (its folder), else the adapter's in the harness home
        data = exported_training(model_id) or _adapter_meta(*adapter, home)
        seconds = data.get("seconds") if data is not None else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return None, "local training (time not recorded)"
        assert data is not None
        device = str(data.get("device", "cpu"))[:40]
        examples = data.get("examples")
        size = f" on {examples} examples" if isinstance(examples, int) else ""
        done = f"{seconds:.0f} s of local {device} training{size}"
        if price is None and device.endswith("cpu"):  # "cpu", or "2x cpu" under accelerate
            price = (DEFAULT_CPU_HOUR_PRICE, "default CPU price")
        if price is None:
            return None, f"{done} (set compute_price to price it)"
        cost = seconds / 3600 * price[0]
        return cost, f"${cost:.4f} ({done} at ${price[0]:g}/h)"
    record = hosted_jobs_path(home)
    if record.exists():
        for entry in json.loads(record.read_text("utf-8")).get("jobs", {}).values():
            if f"openai:{entry.get('fine_tuned_model')}" == model_id and entry.get(
                "trained_tokens"
            ):
                from harness.finetune.tokens import training_price

                per_million = training_price(str(entry.get("model", "")))
                if per_million is not None:
                    cost = entry["trained_tokens"] * per_million / 1e6
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
    require_adapters(
        [a[0] for a in map(adapter_of, (v.variant for v in tuned)) if a is not None and a[1]],
        root,
    )
    rows, notes = [], []
    verdicts: list[tuple[VariantSummary, Paired]] = []
    best_cases = _per_case(outcome, best.variant.id)
    results = _in_split(outcome)
    everyone = [v.variant for v in summary.variants]
    compute: dict[str, MachineCost] = {}
    for v in [best, *tuned]:
        mine = [r for r in results if r.variant == v.variant.id and r.error is None]
        if _priced_by_compute(v.variant, mine):
            compute[v.variant.id] = machine_cost(v.variant, mine, everyone)

    def per_1k(v: VariantSummary) -> float | None:
        machine = compute.get(v.variant.id)
        return v.cost_per_1k if machine is None else machine.per_1k

    best_cost = per_1k(best)
    for v in tuned:
        paired = paired_comparison(_per_case(outcome, v.variant.id), best_cases)
        verdicts.append((v, paired))
        explicit = _explicit_price(v.variant, everyone)
        cost_usd, cost_text = _training_cost(v.variant, root, explicit)
        cost = per_1k(v)
        if v.variant.id not in compute and best.variant.id not in compute:
            saved: float | None = (best.cost_per_1k or 0.0) - (v.cost_per_1k or 0.0)  # as ever
        else:  # priced by machine time: both sides must be known
            saved = None if best_cost is None or cost is None else best_cost - cost
        payoff = cost_usd / saved * 1000 if cost_usd and saved is not None and saved > 0 else None
        breakeven = "—" if payoff is None else f"{payoff:,.0f} queries"
        rows.append(
            [
                v.variant.id,
                f"{100 * v.rate.rate:.1f}%",
                f"{100 * paired.diff:+.1f} [{100 * paired.low:+.0f}, {100 * paired.high:+.0f}]",
                f"{paired.p_value:.3g}",
                f"{_tokens(v):.0f}",
                _money(cost),
                cost_text,
                breakeven,
            ]
        )
        if payoff is not None and best_cost is not None and cost is not None and cost_usd:
            notes.append(
                f"{v.variant.id} pays off after {breakeven}: training ${cost_usd:.4f} / "
                f"(best prompt ${best_cost:.4f} - its ${cost:.4f} per 1k queries)"
            )
    rows.insert(
        0,
        [
            best.variant.id + " (best prompt)",
            f"{100 * best.rate.rate:.1f}%",
            "—",
            "—",
            f"{_tokens(best):.0f}",
            _money(best_cost),
            "—",
            "—",
        ],
    )
    headers = [
        "variant",
        "pass rate",
        "Δ vs best prompt, pp [95% CI]",
        "p (exact)",
        "tokens/query",
        "$ / 1k queries",
        "training cost",
        "pays off after",
    ]
    if compute:
        headers.insert(5, "machine s/query")
        for row, v in zip(rows, [best, *tuned], strict=True):
            machine = compute.get(v.variant.id)
            row.insert(5, "—" if machine is None else _machine_seconds(machine))
        notes.extend(_compute_notes(compute, [best, *tuned]))
    table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    scaling = [(v, p, n) for v, p in verdicts if (n := _training_size(v.variant)) is not None]
    if scaling:
        notes.append(
            "data-scaling curve (pass rate by training examples): "
            + ", ".join(
                f"{n}: {100 * v.rate.rate:.0f}%"
                for v, _, n in sorted(scaling, key=lambda item: item[2])
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


def _money(per_1k: float | None) -> str:
    return "—" if per_1k is None else f"{per_1k:.4f}"


def _machine_seconds(machine: MachineCost) -> str:
    if machine.seconds is None:
        return "—"
    where = f" ({', '.join(machine.devices)})" if machine.devices else ""
    return f"{machine.seconds:.4g}{where}"


def _training_size(variant: Variant) -> int | None:
    """The training-set size of a data-scaling adapter (``NAME-nSIZE``)."""
    adapter = adapter_of(variant)
    name = adapter[0] if adapter is not None else variant.model.rsplit("+", 1)[-1]
    found = re.search(r"-n(\d+)$", name) if "+" in variant.model or adapter else None
    return int(found.group(1)) if found else None


def _compute_notes(compute: dict[str, MachineCost], shown: Sequence[VariantSummary]) -> list[str]:
    """The machine prices assumed and where the machine times come from."""
    priced: dict[tuple[float, str], list[str]] = {}
    missing: list[str] = []
    for v in shown:
        machine = compute.get(v.variant.id)
        if machine is None:
            continue
        model = v.variant.model
        if machine.seconds is None:
            missing.append(
                f"{model}: no machine time recorded ("
                + (
                    "its answers were cached before answers kept their time: use a fresh "
                    "cache to measure them)"
                    if model.startswith("local:") or machine.devices
                    else "set its compute_price to time a model served elsewhere)"
                )
            )
        elif machine.price is None:
            missing.append(
                f"{model}: ran on {', '.join(machine.devices) or 'a server'}, which has no "
                "default price (set its compute_price)"
            )
        else:
            models = priced.setdefault((machine.price, machine.price_source), [])
            models += [model] if model not in models else []
    notes = []
    if priced:
        notes.append(
            "compute prices assumed (USD per machine-hour): "
            + "; ".join(
                f"{', '.join(models)} ${price:g}/h ("
                + (
                    "default CPU price DEFAULT_CPU_HOUR_PRICE, a 2-vCPU cloud VM; set "
                    "compute_price on a model for your machine"
                    if source == "default CPU price"
                    else source
                )
                + ")"
                for (price, source), models in priced.items()
            )
        )
    timed = [m for m in compute.values() if m.timed]
    if timed:
        answers = sum(m.timed for m in timed)
        cached = sum(m.cached for m in timed)
        notes.append(
            f"machine s/query: measured over {answers} answers, each its share of the "
            "machine's time (a local batch split among its rows, shared with whatever else "
            "ran on the device)"
            + (
                f"; {cached} of them cached, counted at the time measured when they were "
                "generated (this run spent none on them)"
                if cached
                else ""
            )
        )
    notes.extend(missing)
    return notes
