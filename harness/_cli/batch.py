"""``harness batch status|collect|cancel RUN``: parse, call :mod:`harness._run.batch_admin`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from tabulate import tabulate

from harness._cli.common import home_option, trust_options
from harness.experiment import Trust

if TYPE_CHECKING:
    from harness import BatchEntry

__all__ = ["batch"]


@click.group()
def batch() -> None:
    """A run's Batch API batches: their status, collecting them, cancelling them."""


def _print(entries: list[BatchEntry]) -> None:
    rows = [
        [
            e.batch_id or "(not created)",
            e.model,
            e.status,
            f"{e.counts.get('completed', 0)}/{e.requests}",
            e.counts.get("failed", 0),
            e.file,
        ]
        for e in entries
    ]
    headers = ["batch", "model", "status", "answered", "failed", "input file"]
    click.echo(tabulate(rows, headers=headers, disable_numparse=True))


@batch.command()
@click.argument("run_ref", metavar="RUN")
@home_option()
@trust_options
def status(run_ref: str, home: Path | None, trust: Trust) -> None:
    """Ask about the run's unfinished batches now and show them all."""
    from harness import batch_status

    _print(batch_status(run_ref, home=home, trust=trust))


@batch.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--resubmit", is_flag=True, help="What expired batches left: a new batch.")
@click.option("--direct-remainder", is_flag=True, help="What they left: direct requests.")
@home_option()
@trust_options
def collect(
    run_ref: str, resubmit: bool, direct_remainder: bool, home: Path | None, trust: Trust
) -> None:
    """Wait for the run's batches, collect them and finish the run."""
    from harness import collect_batches
    from harness._cli.console import print_outcome

    result = collect_batches(
        run_ref, home=home, trust=trust, resubmit=resubmit, direct_remainder=direct_remainder
    )
    raise SystemExit(print_outcome(result))


@batch.command()
@click.argument("run_ref", metavar="RUN")
@home_option()
@trust_options
def cancel(run_ref: str, home: Path | None, trust: Trust) -> None:
    """Cancel the run's unfinished batches; what they answered can still be collected."""
    from harness import cancel_batches

    _print(cancel_batches(run_ref, home=home, trust=trust))
