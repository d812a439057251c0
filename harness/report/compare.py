"""``harness compare A B``: the same (variant, case) results across two runs, paired."""

from __future__ import annotations

from collections import defaultdict

import click
from tabulate import tabulate

from harness.runs import RunDir
from harness.stats import paired_comparison

__all__ = ["compare_runs"]


def compare_runs(a: RunDir, b: RunDir, *, limit: int = 20) -> int:
    """Print per-variant paired changes and the regressions and fixes; 1 on regressions."""
    left = {(r.variant, r.case, r.repeat): r for r in a.results() if r.passed is not None}
    right = {(r.variant, r.case, r.repeat): r for r in b.results() if r.passed is not None}
    shared = sorted(set(left) & set(right))
    if not shared:
        click.echo("the runs share no scored (variant, case) results", err=True)
        return 2
    per_variant: dict[str, tuple[dict[str, list[float]], dict[str, list[float]]]] = defaultdict(
        lambda: (defaultdict(list), defaultdict(list))
    )
    regressions, fixes = [], []
    for key in shared:
        was, now = left[key], right[key]
        per_variant[key[0]][0][key[1]].append(float(bool(was.passed)))
        per_variant[key[0]][1][key[1]].append(float(bool(now.passed)))
        if was.passed and not now.passed:
            regressions.append((key, was, now))
        elif now.passed and not was.passed:
            fixes.append((key, was, now))
    rows = []
    for variant, (before, after) in sorted(per_variant.items()):
        b_mean = {c: sum(v) / len(v) for c, v in before.items()}
        a_mean = {c: sum(v) / len(v) for c, v in after.items()}
        p = paired_comparison(a_mean, b_mean)
        rate_before = sum(b_mean.values()) / len(b_mean)
        rows.append(
            [
                variant,
                f"{100 * rate_before:.1f}%",
                f"{100 * (rate_before + p.diff):.1f}%",
                f"{100 * p.diff:+.1f} [{100 * p.low:+.0f}, {100 * p.high:+.0f}]",
                f"{p.p_value:.3f}",
                int(p.b_only),
                int(p.a_only),
            ]
        )
    click.echo(f"{a.id} -> {b.id}: {len(shared)} paired results")
    click.echo(
        tabulate(
            rows,
            headers=[
                "variant",
                "before",
                "after",
                "Δ pp [95% CI]",
                "p (exact)",
                "regressions",
                "fixes",
            ],
            tablefmt="simple",
        )
    )
    for title, items in (("regressions", regressions), ("fixes", fixes)):
        if items:
            click.echo(f"\n{title} ({len(items)}):")
            for (variant, case, _), was, now in items[:limit]:
                click.echo(f"  {variant} | {case}: {was.output!r} -> {now.output!r}")
            if len(items) > limit:
                click.echo(f"  ... and {len(items) - limit} more")
    return 1 if regressions else 0
