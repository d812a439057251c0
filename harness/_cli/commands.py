"""Command bodies: thin adapters from parsed arguments to library calls and printing."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from harness.errors import HarnessError

__all__ = ["print_schema", "render_path", "validate_paths"]


def validate_paths(paths: Sequence[str]) -> int:
    """Validate files and folders; print every problem; 2 on any error, else 0."""
    from harness.experiment import find_experiment_files, validate_experiment

    files = find_experiment_files(paths)
    if not files:
        raise HarnessError(f"no experiment files found in {', '.join(paths)}")
    status = 0
    for path in files:
        result = validate_experiment(path)
        for problem in result.problems:
            click.echo(str(problem), err=True)
        if result.errors:
            status = 2
            n = len(result.errors)
            click.echo(f"{result.display}: {n} error{'s' * (n != 1)}", err=True)
            continue
        exp = result.experiment
        assert exp is not None
        requests = len(exp.variants) * len(exp.cases) * exp.spec.repeats
        click.echo(
            f"{result.display}: ok: {len(exp.variants)} variants x {len(exp.cases)} cases "
            f"= {requests} requests; pool {len(exp.pool)} examples"
        )
    return status


def render_path(path: str, variants: Sequence[str], cases: Sequence[str], as_json: bool) -> None:
    """Print the rendered messages for the selected variants and cases."""
    from harness.experiment import load_experiment, match_variants
    from harness.render import render_variants

    exp = load_experiment(path)
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
