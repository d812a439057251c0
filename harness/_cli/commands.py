"""Command bodies: thin adapters from parsed arguments to library calls and printing.

Only public API is called here (``harness.run``, ``harness.estimate``, the experiment,
report and runs modules), never the run machinery in ``harness._run``: what the command
line can do, a script can do the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.experiment import Experiment
    from harness.experiment.trust import Trust

__all__ = [
    "compare_command",
    "report_command",
    "view_command",
    "decide_command",
    "estimate_path",
    "import_command",
    "list_runs_command",
    "print_schema",
    "render_path",
    "run_path",
    "show_command",
    "validate_paths",
]


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
        extra = f" (incl. {tuned} fine-tuned)" if tuned else ""
        if exp.split is None:
            requests = n_variants * len(exp.cases) * exp.spec.repeats
            cases = f"{len(exp.cases)} cases = {requests} requests"
        else:
            dev, held = len(exp.split.dev), len(exp.split.heldout)
            requests = n_variants * dev * exp.spec.repeats
            cases = (
                f"{dev} dev cases = {requests} requests to choose, then the winner and its "
                f"ties on {held} held-out cases to report"
            )
        click.echo(
            f"{result.display}: ok: {n_variants} variants{extra} x {cases}; "
            f"pool {len(exp.pool)} examples"
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


def _load_noting_keys(path: str, trust: Trust | None) -> Experiment:
    """Load the experiment and say, before anything is sent, where each key would go."""
    from harness.experiment import key_destinations, load_experiment

    exp = load_experiment(path, trust=trust)
    for line in key_destinations(exp.spec):
        click.echo(f"note: {line}", err=True)
    return exp


def estimate_path(
    path: str,
    *,
    variants: Sequence[str] = (),
    models: Sequence[str] = (),
    repeats: int | None = None,
    home: Path | None = None,
    trust: Trust | None = None,
    batch: bool = False,
) -> int:
    """``harness run --dry-run``: :func:`harness.estimate` as a table; 0."""
    from tabulate import tabulate

    from harness import estimate

    exp = _load_noting_keys(path, trust)
    counted = estimate(
        exp, variants=variants, models=models, repeats=repeats, home=home, batch=batch
    )
    table: list[list[object]] = [
        [
            e.variant,
            e.requests,
            e.prompt_tokens,
            e.max_completion_tokens,
            "?" if e.cost is None else f"{e.cost:.4f}",
        ]
        for e in counted.variants
    ]
    table.append(
        [
            "total",
            counted.requests,
            counted.prompt_tokens,
            counted.max_completion_tokens,
            f"{counted.cost:.4f}",
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
    if exp.split is not None:
        click.echo(
            f"split experiment: these counts are the worst case (--all-held-out); a run sends "
            f"every variant's {len(exp.split.dev)} dev cases and the held-out "
            f"{len(exp.split.heldout)} only for the dev winner, its ties and the baseline"
        )
    return 0


def run_path(
    path: str,
    *,
    fmt: str = "table",
    output: Path | None = None,
    variants: Sequence[str] = (),
    models: Sequence[str] = (),
    home: Path | None = None,
    concurrency: int | None = None,
    use_cache: bool = True,
    resume: bool = False,
    keep_errors: bool = False,
    max_cost: float | None = None,
    max_retry_after: float | None = None,
    repeats: int | None = None,
    trust: Trust | None = None,
    all_heldout: bool = False,
    batch: bool = False,
    wait: bool = True,
    resubmit: bool = False,
    direct_remainder: bool = False,
) -> int:
    """``harness run``: 0 when every threshold is met, 1 when not, 3 when aborted."""
    from harness import BatchesSubmitted, run

    exp = _load_noting_keys(path, trust)
    try:
        result = run(
            exp,
            variants=variants,
            models=models,
            home=home,
            concurrency=concurrency,
            use_cache=use_cache,
            resume=resume,
            keep_errors=keep_errors,
            max_cost=max_cost,
            max_retry_after=max_retry_after,
            repeats=repeats,
            all_heldout=all_heldout,
            batch=batch,
            wait=wait,
            resubmit=resubmit,
            direct_remainder=direct_remainder,
        )
    except BatchesSubmitted as submitted:
        click.echo(str(submitted))
        return 0
    except KeyboardInterrupt:
        click.echo("interrupted: finished results are kept; continue with --resume", err=True)
        return 130
    from harness._cli.console import print_outcome

    return print_outcome(result, fmt, output)


def list_runs_command(home: Path | None) -> None:
    from harness._cli.console import print_runs
    from harness.home import harness_home
    from harness.runs import list_runs

    print_runs(list_runs(harness_home(home)))


def show_command(
    ref: str, home: Path | None, failures: bool, variants: Sequence[str], fmt: str
) -> None:
    from harness._cli.console import show_run
    from harness.home import harness_home
    from harness.runs import open_run

    run = open_run(harness_home(home), ref)
    if note := run.damage_note():
        click.echo(f"warning: {note}", err=True)
    show_run(run, failures=failures, variants=variants, fmt=fmt)


def compare_command(a: str, b: str, home: Path | None) -> int:
    from harness._cli.console import print_comparison
    from harness.home import harness_home
    from harness.report.compare import pair_runs
    from harness.runs import open_run

    root = harness_home(home)
    runs = open_run(root, a), open_run(root, b)
    for run in runs:
        if note := run.damage_note():
            click.echo(f"warning: {note}", err=True)
    return print_comparison(pair_runs(*runs))


def decide_command(
    path: str, concurrency: int | None, home: Path | None, trust: Trust | None = None
) -> int:
    """Run the experiment (cached results are reused) and print the decision."""
    from harness import run
    from harness.experiment import load_experiment
    from harness.report.decide import decide, require_adapters
    from harness.report.table import format_report

    experiment = load_experiment(path, trust=trust)
    # a model serving an adapter must name one trained here: said before anything runs
    require_adapters([m.adapter for m in experiment.spec.models if m.adapter], home)
    result = run(experiment, concurrency=concurrency, home=home)
    click.echo(format_report(result.summary, result.results, "table", result.selection))
    click.echo("")
    decided = decide(result, home)
    click.echo(decided.text)
    if result.report_html is not None:
        click.echo(f"\nreport: {result.report_html}")
    return 3 if result.aborted else 0


def report_command(
    ref: str, *, output: Path | None, against: str | None, fmt: str, home: Path | None
) -> None:
    """``harness report``: the HTML file's path, or the Markdown summary, printed."""
    from harness.report.publish import publish_report

    written, text = publish_report(ref, output=output, against=against, fmt=fmt, home=home)
    if written is not None:
        click.echo(str(written))
    else:
        click.echo(text)


def view_command(home: Path | None, *, host: str, port: int) -> None:
    """``harness view``: serve the home's runs until Ctrl-C."""
    from harness.report.serve import serve_runs

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: serving on {host}: anyone who can reach this machine can read these "
            "runs' prompts and outputs",
            err=True,
        )
    serve_runs(home, host=host, port=port, log=lambda line: click.echo(line, err=True))


def import_command(
    kind: str,
    source: Path,
    out_dir: Path,
    *,
    eval_id: str | None = None,
    registry_data: Path | None = None,
) -> None:
    """``harness import``: what was not carried over, located; a summary; the new file."""
    from harness.importers import import_suite

    suite, path = import_suite(kind, source, out_dir, eval_id=eval_id, registry_data=registry_data)
    for problem in suite.problems:
        click.echo(str(problem), err=True)
    click.echo(suite.summary(), err=True)
    click.echo(str(path))
