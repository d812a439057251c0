"""Printing a run's outcome (interim: per-variant counts until checks and statistics land)."""

from __future__ import annotations

import click
from tabulate import tabulate

from harness._run.pipeline import RunOutcome

__all__ = ["print_outcome"]


def print_outcome(outcome: RunOutcome) -> int:
    rows = []
    for variant in outcome.variants:
        mine = [r for r in outcome.results if r.variant == variant.id]
        errors = sum(r.error is not None for r in mine)
        latencies = [r.latency_ms for r in mine if r.latency_ms is not None]
        tokens = [r.completion_tokens or 0 for r in mine]
        rows.append(
            [
                variant.id,
                len(mine),
                errors,
                f"{sum(latencies) / len(latencies):.0f}" if latencies else "-",
                f"{sum(tokens) / len(tokens):.1f}" if tokens else "-",
            ]
        )
    click.echo(tabulate(rows, headers=["variant", "n", "errors", "latency ms", "tokens out"]))
    stats = outcome.stats
    click.echo(
        f"run {outcome.run.id}: {stats.requested} requested, {stats.cached} cached, "
        f"{stats.resumed} resumed, {stats.errors} errors, {stats.retries} retries"
    )
    if outcome.aborted:
        click.echo(f"aborted: {outcome.aborted}", err=True)
        return 3
    return 0
