"""What ``harness run``, ``runs``, ``show`` and ``compare`` print."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tabulate import tabulate

from harness.experiment.plan import Variant
from harness.report.compare import RunComparison
from harness.report.run_report import variant_from_id
from harness.report.summary import summarize_run
from harness.report.table import FORMATS, format_report
from harness.results import Result
from harness.runs import RunDir

if TYPE_CHECKING:
    from harness import RunResult

__all__ = ["print_comparison", "print_outcome", "print_runs", "show_run"]

_SUFFIX_FORMAT = {
    ".json": "json",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "table",
}


def format_for(path: Path) -> str:
    return _SUFFIX_FORMAT.get(path.suffix.lower(), "table")


def print_outcome(outcome: RunResult, fmt: str = "table", output: Path | None = None) -> int:
    """Print the report; write ``output`` too (format from its extension)."""
    assert fmt in FORMATS
    selection = outcome.selection
    click.echo(format_report(outcome.summary, outcome.results, fmt, selection))
    if output is not None:
        text = format_report(outcome.summary, outcome.results, format_for(output), selection)
        output.write_text(text + "\n", "utf-8")
    if fmt in ("table", "markdown"):
        curve = outcome.run_dir / "learning_curve.txt"
        if curve.exists():
            click.echo("\nlearning curve (pass rate by shots, seeds pooled per case):")
            click.echo(curve.read_text("utf-8").rstrip())
    stats = outcome.stats
    where = f"run {outcome.run_id} saved in {outcome.run_dir}"
    click.echo(
        f"\n{where}: {stats.requested} requested, {stats.cached} cached, {stats.resumed} "
        f"resumed, {stats.errors} errors, {stats.retries} retries, ${stats.cost:.4f}",
        err=fmt != "table",
    )
    if outcome.report_html is not None:
        click.echo(f"report: {outcome.report_html}", err=fmt != "table")
    if outcome.aborted:
        click.echo(
            f"aborted: {outcome.aborted}; finished results are kept (continue with --resume)",
            err=True,
        )
    for v in outcome.summary.failing:
        click.echo(
            f"below min_pass_rate: {v.variant.id}: {100 * v.rate.rate:.1f}% < "
            f"{100 * (v.threshold or 0):.1f}%" + (f" ({v.errors} errors)" if v.errors else ""),
            err=True,
        )
    return outcome.exit_code


def print_runs(runs: Sequence[RunDir]) -> None:
    rows = []
    for run in runs:
        meta = run.meta()
        stamp = meta.get("started", 0)
        stamp = stamp if isinstance(stamp, (int, float)) and 0 <= stamp < 1e11 else 0
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))
        stats = meta.get("stats") or {}
        rows.append(
            [
                run.id,
                meta.get("experiment", "?"),
                started,
                meta.get("status", "?"),
                len(meta.get("variants") or []),
                stats.get("total", "—"),
                stats.get("errors", "—"),
                meta.get("best") or "—",
            ]
        )
    click.echo(
        tabulate(
            rows,
            headers=[
                "run",
                "experiment",
                "started",
                "status",
                "variants",
                "requests",
                "errors",
                "best",
            ],
            tablefmt="simple",
        )
    )


def _clip(text: str | None, limit: int = 160) -> str:
    if text is None:
        return "—"
    flat = text.replace("\n", "⏎")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def show_run(run: RunDir, *, failures: bool, variants: Sequence[str], fmt: str) -> None:
    from harness.experiment import match_variants

    results = run.results()
    meta = run.meta()
    plan = [
        variant_from_id(v) for v in meta.get("variants") or sorted({r.variant for r in results})
    ]
    chosen: Sequence[Variant] = match_variants(plan, variants) if variants else plan
    ids = {v.id for v in chosen}
    shown = [r for r in results if r.variant in ids and (not failures or r.passed is not True)]
    if fmt != "table":
        summary, selection = summarize_run(chosen, [r for r in results if r.variant in ids])
        click.echo(format_report(summary, shown, fmt, selection))
        return
    click.echo(f"run {run.id} ({meta.get('experiment')}, {meta.get('status')})")
    for r in shown:
        verdict = "ERROR" if r.error else ("PASS" if r.passed else "FAIL")
        click.echo(
            f"\n[{verdict}] {r.variant} | case {r.case}" + (f" #{r.repeat}" if r.repeat else "")
        )
        click.echo(f"  output: {_clip(r.output)}")
        if r.error:
            click.echo(f"  error:  {r.error}")
        for c in r.checks:
            if not c.passed or not failures:
                click.echo(
                    f"  {'✓' if c.passed else '✗'} {c.name}" + (f": {c.reason}" if c.reason else "")
                )
    click.echo(f"\n{len(shown)} result(s) shown")


def results_by_key(results: Sequence[Result]) -> dict[tuple[str, str, int], Result]:
    return {(r.variant, r.case, r.repeat): r for r in results}


def print_comparison(comparison: RunComparison, *, limit: int = 20) -> int:
    """``harness compare``: per-variant paired changes, then regressions and fixes; 1 on any
    regression, 2 when the runs share no scored result."""
    if not comparison.shared:
        click.echo("the runs share no scored (variant, case) results", err=True)
        return 2
    rows = [
        [
            c.variant,
            f"{100 * c.before:.1f}%",
            f"{100 * c.after:.1f}%",
            f"{100 * c.paired.diff:+.1f} [{100 * c.paired.low:+.0f}, {100 * c.paired.high:+.0f}]",
            f"{c.paired.p_value:.3f}",
            int(c.paired.b_only),
            int(c.paired.a_only),
        ]
        for c in comparison.variants
    ]
    click.echo(f"{comparison.before} -> {comparison.after}: {comparison.shared} paired results")
    headers = ["variant", "before", "after", "Δ pp [95% CI]", "p (exact)", "regressions", "fixes"]
    click.echo(tabulate(rows, headers=headers, tablefmt="simple"))
    for title, items in (("regressions", comparison.regressions), ("fixes", comparison.fixes)):
        if items:
            click.echo(f"\n{title} ({len(items)}):")
            for change in items[:limit]:
                variant, case, _ = change.key
                click.echo(f"  {variant} | {case}: {change.was.output!r} -> {change.now.output!r}")
            if len(items) > limit:
                click.echo(f"  ... and {len(items) - limit} more")
    return 1 if comparison.regressions else 0
