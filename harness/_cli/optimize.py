"""``harness optimize``: parse the options, call :func:`harness.optimize.optimize_shots`."""

from __future__ import annotations

from pathlib import Path

import click
from tabulate import tabulate

from harness._cli.common import OptionalPath, home_option, trust_options
from harness.experiment import Trust

__all__ = ["optimize"]


@click.command()
@click.argument("path", type=click.Path())
@click.option("--prompt", help="Search shots for this prompt (default: every prompt).")
@click.option("--model", help="The experiment's model to search with (default: its first).")
@click.option("--k", type=click.IntRange(1, 64), default=3, show_default=True, help="Shots.")
@click.option(
    "--candidates",
    type=click.IntRange(2, 1000),
    default=12,
    show_default=True,
    help="Fixed sets to score per prompt: half random draws, half greedy tries per step.",
)
@click.option(
    "--budget-requests",
    type=click.IntRange(1),
    help="Most dev requests the search may plan (fewer candidates when needed).",
)
@click.option("--max-cost", type=click.FloatRange(0), help="Stop before spending more (USD).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draws.")
@click.option("--concurrency", type=click.IntRange(1, 10_000), help="Requests in flight per model.")
@click.option(
    "-o",
    "--output",
    type=OptionalPath(dir_okay=False, path_type=Path),
    help="The file to write (default EXP.optimized.yaml, beside EXP).",
)
@click.option("--dry-run", is_flag=True, help="Show the search's requests, tokens and cost.")
@home_option()
@trust_options
def optimize(
    path: str,
    prompt: str | None,
    model: str | None,
    k: int,
    candidates: int,
    budget_requests: int | None,
    max_cost: float | None,
    seed: int,
    concurrency: int | None,
    output: Path | None,
    dry_run: bool,
    home: Path | None,
    trust: Trust,
) -> None:
    """Search for better fixed shots on dev cases; confirm them on held-out cases."""
    from harness.experiment import load_experiment
    from harness.optimize import estimate_search, optimize_shots, plan_search

    exp = load_experiment(path, trust=trust)
    plan = plan_search(
        exp, prompt=prompt, model=model, k=k, candidates=candidates, budget_requests=budget_requests
    )
    cut = f" (cut from {plan.reduced_from} to fit the budget)" if plan.reduced_from else ""
    click.echo(
        f"search: {', '.join(plan.prompts)} on {plan.model}, k={plan.k}, {plan.dev_cases} dev "
        f"cases ({plan.heldout_cases} held out); {plan.eligible} pool items may be shots; "
        f"{plan.random_sets} random sets + {plan.greedy_tries} greedy tries per step{cut} + "
        f"{len(plan.selectors)} selectors per prompt",
        err=True,
    )
    if dry_run:
        cost = estimate_search(exp, plan, seed=seed)
        price = "unpriced" if cost.cost is None else f"at most ${cost.cost:.4f}"
        click.echo(
            f"{cost.requests} dev requests, about {cost.prompt_tokens:,} prompt tokens, {price}; "
            f"then zero-shot, the found set and the file's {len(plan.selectors)} selector(s) on "
            f"{plan.heldout_cases} held-out cases"
        )
        return
    result = optimize_shots(
        exp,
        prompt=prompt,
        model=model,
        k=k,
        candidates=candidates,
        budget_requests=budget_requests,
        max_cost=max_cost,
        seed=seed,
        home=home,
        concurrency=concurrency,
        output=output,
        trust=trust,
        log=lambda text: click.echo(text, err=True),
    )
    from harness.report.table import format_report

    rows = [
        [t.candidate.label, t.prompt, t.candidate.kind, f"{100 * t.pass_rate:.1f}%", t.cases]
        for t in result.tried[:10]
    ]
    click.echo(f"dev cases: the {len(result.tried)} candidates at k={k}, best first (top 10)")
    click.echo(tabulate(rows, headers=["candidate", "prompt", "kind", "dev pass rate", "cases"]))
    click.echo(f"\nbest set: {', '.join(result.best.candidate.ids)} -> {result.path}\n")
    held = result.heldout
    click.echo(format_report(held.summary, held.results, "table"))
    against = [
        [
            a.variant,
            f"{100 * a.paired.diff:+.1f} [{100 * a.paired.low:+.0f}, {100 * a.paired.high:+.0f}]",
            f"{a.paired.p_value:.3g}",
            f"{a.p_holm:.3g}",
        ]
        for a in result.against
    ]
    click.echo(
        f"\nthe found set against each, on the {held.summary.variants[0].rate.cases} held-out cases:"
    )
    headers = ["against", "Δ pp [95% CI]", "p (exact)", f"p (Holm, {len(result.tried)} candidates)"]
    click.echo(tabulate(against, headers=headers, disable_numparse=True))
    if result.stopped:
        click.echo(f"\nthe search stopped early: {result.stopped}")
    click.echo("\n" + result.verdict)
