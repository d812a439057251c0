"""Command bodies: thin adapters from parsed arguments to library calls and printing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness._run.pipeline import RunOptions
    from harness.experiment.trust import Trust

__all__ = ["print_schema", "render_path", "validate_paths"]


def validate_paths(paths: Sequence[str], trust: Trust | None = None) -> int:
    """Validate files and folders; print every problem; 2 on any error, else 0."""
    from harness.experiment import find_experiment_files, validate_experiment

    files = find_experiment_files(paths)
    if not files:
        raise HarnessError(f"no experiment files found in {', '.join(paths)}")
    status = 0
    for path in files:
        result = validate_experiment(path, trust=trust)
        for problem in result.problems:
            click.echo(str(problem), err=True)
        if result.errors:
            status = 2
            n = len(result.errors)
            click.echo(f"{result.display}: {n} error{'s' * (n != 1)}", err=True)
            continue
        exp = result.experiment
        assert exp is not None
        tuned = sum(1 + len(f.sizes) for f in exp.spec.finetune)
        n_variants = len(exp.variants) + tuned
        requests = n_variants * len(exp.cases) * exp.spec.repeats
        extra = f" (incl. {tuned} fine-tuned)" if tuned else ""
        click.echo(
            f"{result.display}: ok: {n_variants} variants{extra} x {len(exp.cases)} cases "
            f"= {requests} requests; pool {len(exp.pool)} examples"
        )
    return status


def render_path(
    path: str,
    variants: Sequence[str],
    cases: Sequence[str],
    as_json: bool,
    trust: Trust | None = None,
) -> None:
    """Print the rendered messages for the selected variants and cases."""
    from harness.experiment import load_experiment, match_variants
    from harness.render import render_variants

    exp = load_experiment(path, trust=trust)
    chosen = match_variants(exp.variants, variants)
    if not chosen:
        known = ", ".join(v.id for v in exp.variants[:20])
        raise HarnessError(f"no variant matches {', '.join(variants)}; variants: {known}")
    selected = list(exp.cases)
    if cases:
        ids = {c.id for c in exp.cases}
        unknown = [c for c in cases if c not in ids]
        if unknown:
            raise HarnessError(f"unknown case id(s): {', '.join(unknown)}")
        selected = [c for c in exp.cases if c.id in set(cases)]
    rendered = render_variants(exp, chosen, selected)
    if as_json:
        items = [
            {
                "variant": r.variant,
                "case": r.case,
                "shots": list(r.shots),
                "messages": [m.to_dict() for m in r.messages],
            }
            for r in rendered
        ]
        click.echo(json.dumps(items, indent=2, ensure_ascii=False, default=str))
        return
    for r in rendered:
        shots = f" (shots: {', '.join(r.shots)})" if r.shots else ""
        click.secho(f"=== {r.variant} | case {r.case}{shots}", bold=True)
        for message in r.messages:
            click.secho(f"[{message.role}]", fg="cyan")
            click.echo(message.content)
        click.echo()


def print_schema() -> None:
    from harness.experiment.schema import ExperimentSpec

    schema = ExperimentSpec.model_json_schema(by_alias=True)
    click.echo(json.dumps(schema, indent=2))


def run_path(
    path: str,
    options: RunOptions,
    *,
    dry_run: bool,
    fmt: str = "table",
    output: str | None = None,
    trust: Trust | None = None,
) -> int:
    """``harness run``: 0 when every threshold is met, 1 when not, 3 when aborted."""
    from harness._run.pipeline import estimate_run, run_experiment
    from harness.experiment import key_destinations, load_experiment

    exp = load_experiment(path, trust=trust)
    for line in key_destinations(exp.spec):
        click.echo(f"note: {line}", err=True)
    if dry_run:
        from tabulate import tabulate

        rows = estimate_run(exp, options)
        table = [
            [
                e.variant,
                e.requests,
                e.prompt_tokens,
                e.max_completion_tokens,
                "?" if e.cost is None else f"{e.cost:.4f}",
            ]
            for e in rows
        ]
        total_cost = sum(e.cost or 0 for e in rows)
        table.append(
            [
                "total",
                sum(e.requests for e in rows),
                sum(e.prompt_tokens for e in rows),
                sum(e.max_completion_tokens for e in rows),
                f"{total_cost:.4f}",
            ]
        )
        click.echo(
            tabulate(
                table,
                headers=[
                    "variant",
                    "requests",
                    "prompt tokens (est.)",
                    "max completion tokens",
                    "cost USD (max)",
                ],
            )
        )
        return 0
    try:
        outcome = run_experiment(exp, options)
    except KeyboardInterrupt:
        click.echo("interrupted: finished results are kept; continue with --resume", err=True)
        return 130
    from pathlib import Path

    from harness.report.console import print_outcome

    return print_outcome(outcome, fmt, Path(output) if output else None)


def list_runs_command(home: str | None) -> None:
    from pathlib import Path

    from harness.home import harness_home
    from harness.report.console import print_runs
    from harness.runs import list_runs

    print_runs(list_runs(harness_home(Path(home) if home else None)))


def show_command(
    ref: str, home: str | None, failures: bool, variants: Sequence[str], fmt: str
) -> None:
    from pathlib import Path

    from harness.home import harness_home
    from harness.report.console import show_run
    from harness.runs import open_run

    run = open_run(harness_home(Path(home) if home else None), ref)
    if note := run.damage_note():
        click.echo(f"warning: {note}", err=True)
    show_run(run, failures=failures, variants=variants, fmt=fmt)


def compare_command(a: str, b: str, home: str | None) -> int:
    from pathlib import Path

    from harness.home import harness_home
    from harness.report.compare import compare_runs
    from harness.runs import open_run

    root = harness_home(Path(home) if home else None)
    runs = open_run(root, a), open_run(root, b)
    for run in runs:
        if note := run.damage_note():
            click.echo(f"warning: {note}", err=True)
    return compare_runs(*runs)


def decide_command(
    path: str, concurrency: int | None, home: str | None, trust: Trust | None = None
) -> int:
    """Run the experiment (cached results are reused) and print the decision."""
    from pathlib import Path

    from harness._run.pipeline import RunOptions, run_experiment
    from harness.experiment import load_experiment
    from harness.report.decide import decide
    from harness.report.table import format_report

    options = RunOptions(concurrency=concurrency, home=Path(home) if home else None)
    outcome = run_experiment(load_experiment(path, trust=trust), options)
    click.echo(format_report(outcome.summary, outcome.results, "table"))
    click.echo("")
    click.echo(decide(outcome, options.home).text)
    return 3 if outcome.aborted else 0
