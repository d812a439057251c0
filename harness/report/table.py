"""The comparison table in text, Markdown, CSV and JSON.

Rows are variants sorted by pass rate. ``★`` marks the best variant, ``≈`` the variants a
paired test cannot tell apart from it (Holm-adjusted p >= 0.05). Long cells are shortened
so the table stays readable at 100+ variants; the JSON keeps everything.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from harness.experiment import DEV, HELDOUT
from harness.report.summary import Summary, VariantSummary
from harness.results import Result
from harness.stats import Paired

__all__ = [
    "FORMATS",
    "format_report",
    "report_json",
    "split_title",
    "table_footer",
    "table_rows",
]

FORMATS = ("table", "markdown", "csv", "json")
_MAX_ID = 56


def _shorten(text: str, limit: int = _MAX_ID) -> str:
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep // 2] + "…" + text[-(keep - keep // 2) :]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _delta(p: Paired | None) -> str:
    if p is None:
        return "—"
    return f"{100 * p.diff:+.1f} [{100 * p.low:+.0f}, {100 * p.high:+.0f}]"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _mark(v: VariantSummary) -> str:
    mark = "★" if v.is_best else ("≈" if v.indistinguishable else "")
    if v.meets_threshold is False:
        mark += "✗"
    return mark


def table_rows(summary: Summary, plain: bool) -> tuple[list[str], list[list[str]]]:
    """The comparison table's headers and cells, as every format shows them."""
    headers = ["", "variant", "pass rate [95% CI]", "Δ vs best, pp [95% CI]", "p (Holm)"]
    if summary.baseline:
        headers += ["Δ vs baseline, pp", "p (Holm)"]
    headers += ["n", "errors", "latency ms", "tokens in/out", "$ / 1k cases"]
    rows = []
    for v in summary.variants:
        r = v.rate
        row = [
            _mark(v),
            v.variant.id if plain else _shorten(v.variant.id),
            f"{_pct(r.rate)} [{100 * r.low:.0f}–{100 * r.high:.0f}]",
            "best" if v.is_best else _delta(v.vs_best),
            _p(v.p_best),
        ]
        if summary.baseline:
            is_base = v.variant.id == summary.baseline
            row += ["baseline" if is_base else _delta(v.vs_baseline), _p(v.p_baseline)]
        tokens = f"{_num(v.tokens_in, '.0f')}/{_num(v.tokens_out, '.1f')}"
        row += [
            str(r.cases),
            str(v.errors),
            _num(v.latency_ms, ".0f"),
            tokens,
            _num(v.cost_per_1k, ".4f"),
        ]
        rows.append(row)
    return headers, rows


def table_footer(summary: Summary) -> str:
    """The lines under the table: the best, the indistinguishable, the power hint."""
    close = [v for v in summary.variants if v.indistinguishable]
    label = "★ chosen on dev" if summary.split == HELDOUT else "★ best"
    parts = [f"{label}: {summary.best}"] if summary.best else []
    if close:
        parts.append(
            f"≈ {len(close)} variant(s) not distinguishable from it (paired exact "
            "test, Holm-adjusted p ≥ 0.05)"
        )
    best = next((v for v in summary.variants if v.is_best), None)
    runner_up = next((v for v in summary.variants if not v.is_best), None)
    if best and runner_up and runner_up.vs_best and runner_up.vs_best.cases_needed:
        need = runner_up.vs_best.cases_needed
        parts.append(
            f"to separate the best from the runner-up ({_shorten(runner_up.variant.id, 40)}) "
            f"at 80% power: about {need} cases (have {runner_up.vs_best.cases})"
        )
    failing = summary.failing
    if failing:
        parts.append(f"✗ {len(failing)} variant(s) below min_pass_rate")
    return "\n".join(parts)


def split_title(summary: Summary, selection: Summary | None = None) -> str | None:
    """The line above a split run's table: which cases its numbers come from."""
    if summary.split == HELDOUT:
        chosen = f", ★ chosen on {_cases(selection)} dev cases" if selection else ""
        return f"held-out cases: the answer{chosen}; p and Δ are on held-out cases only"
    if summary.split == DEV:
        return (
            "dev cases: the selection step (these pass rates chose the winner and are "
            "biased upward for it)"
        )
    return None


def _cases(summary: Summary | None) -> int:
    return max((v.rate.cases for v in summary.variants), default=0) if summary else 0


def format_report(
    summary: Summary, results: Sequence[Result], fmt: str, selection: Summary | None = None
) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`): for a split run, the held-out
    ``summary`` (the answer) and then the dev ``selection`` step."""
    if fmt == "json":
        data = report_json(summary, results, selection)
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for part in (summary, selection) if selection is not None else (summary,):
            headers, rows = table_rows(part, plain=True)
            if part.split is None:
                writer.writerow(["mark", *headers[1:]])
                writer.writerows(rows)
            else:
                writer.writerow(["mark", "split", *headers[1:]])
                writer.writerows([[row[0], part.split, *row[1:]] for row in rows])
        return buffer.getvalue()
    style = "github" if fmt == "markdown" else "simple"
    parts = []
    for part in (summary, selection) if selection is not None else (summary,):
        headers, rows = table_rows(part, plain=False)
        table = tabulate(rows, headers=headers, tablefmt=style, disable_numparse=True)
        title = split_title(part, selection if part is summary else None)
        parts.append(("" if title is None else title + "\n") + table + "\n\n" + table_footer(part))
    return "\n\n".join(parts)


def _paired_json(p: Paired | None, adjusted: float | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "diff": p.diff,
        "ci_low": p.low,
        "ci_high": p.high,
        "p_value": p.p_value,
        "p_holm": adjusted,
        "cases": p.cases,
        "cases_needed_80pct_power": p.cases_needed,
    }


def report_json(
    summary: Summary, results: Sequence[Result], selection: Summary | None = None
) -> dict[str, Any]:
    """The report as data; a split run's rows say their ``split`` and its dev table is
    kept under ``selection``."""
    variants = []
    for v in summary.variants:
        variant = v.variant
        variants.append(
            {
                "id": variant.id,
                "split": summary.split,
                "prompt": variant.prompt,
                "model": variant.model,
                "shots": variant.shots,
                "selector": variant.selector,
                "seed": variant.seed,
                "n": v.n,
                "cases": v.rate.cases,
                "passed": v.passed,
                "failed": v.failed,
                "errors": v.errors,
                "pass_rate": v.rate.rate,
                "ci_low": v.rate.low,
                "ci_high": v.rate.high,
                "clustered": v.rate.clustered,
                "best": v.is_best,
                "indistinguishable_from_best": v.indistinguishable,
                "vs_best": _paired_json(v.vs_best, v.p_best),
                "vs_baseline": _paired_json(v.vs_baseline, v.p_baseline),
                "mean_latency_ms": v.latency_ms,
                "tokens_in_per_case": v.tokens_in,
                "tokens_out_per_case": v.tokens_out,
                "cost_per_1k_cases": v.cost_per_1k,
                "min_pass_rate": v.threshold,
                "meets_threshold": v.meets_threshold,
            }
        )
    cases = [
        {
            "variant": r.variant,
            "case": r.case,
            "repeat": r.repeat,
            "output": r.output,
            "passed": r.passed,
            "error": r.error,
            "score": r.score,
            "shots": list(r.shots),
            "latency_ms": r.latency_ms,
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "cost": r.cost,
            "cached": r.cached,
            "split": r.split,
            "checks": [
                {
                    "name": c.name,
                    "passed": c.passed,
                    "reason": c.reason,
                    "score": c.score,
                    "weight": c.weight,
                }
                for c in r.checks
            ],
        }
        for r in results
    ]
    data: dict[str, Any] = {
        "best": summary.best,
        "baseline": summary.baseline,
        "split": summary.split,
        "variants": variants,
        "cases": cases,
    }
    if selection is not None:
        data["selection"] = report_json(selection, [])
        del data["selection"]["cases"]
    return data
