"""What ``harness run``, ``runs``, ``show`` and ``compare`` print."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tabulate import tabulate

from harness.experiment.plan import Variant
from harness.report.summary import summarize
from harness.report.table import FORMATS, format_report
from harness.results import Result
from harness.runs import RunDir

if TYPE_CHECKING:
    from harness import RunResult

__all__ = ["print_outcome", "print_runs", "show_run"]

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
    click.echo(format_report(outcome.summary, outcome.results, fmt))
    if output is not None:
        output.write_text(
            format_report(outcome.summary, outcome.results, format_for(output)) + "\n", "utf-8"
        )
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
        _variant_from_id(v) for v in meta.get("variants") or sorted({r.variant for r in results})
    ]
    chosen: Sequence[Variant] = match_variants(plan, variants) if variants else plan
    ids = {v.id for v in chosen}
    shown = [r for r in results if r.variant in ids and (not failures or r.passed is not True)]
    if fmt != "table":
        summary = summarize(chosen, [r for r in results if r.variant in ids])
        click.echo(format_report(summary, shown, fmt))
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


def _variant_from_id(variant_id: str) -> Variant:
    parts = variant_id.split("/")
    prompt, model = parts[0], parts[-1]
    shots = int(parts[1][1:]) if len(parts) > 1 and parts[1][1:].isdigit() else 0
    selector = parts[2] if len(parts) > 3 else None
    seed = int(parts[3][1:]) if len(parts) > 4 and parts[3][1:].isdigit() else None
    return Variant(variant_id, prompt, shots, selector, seed, model)


def results_by_key(results: Sequence[Result]) -> dict[tuple[str, str, int], Result]:
    return {(r.variant, r.case, r.repeat): r for r in results}
