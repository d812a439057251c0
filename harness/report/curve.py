"""The learning curve: pass rate versus number of shots, one line per prompt × selector.

Seeds are pooled with each test case as the cluster, and the zero-shot point is shared by
every selector line of its prompt, so each line starts where the prompt starts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from harness.experiment import Variant
from harness.report.summary import case_scores
from harness.results import Result
from harness.stats import Rate, pass_rate

__all__ = ["CurvePoint", "curve_table", "learning_curve", "plot_learning_curve"]


@dataclass(frozen=True)
class CurvePoint:
    line: str
    shots: int
    rate: Rate


def learning_curve(variants: Sequence[Variant], results: Sequence[Result]) -> list[CurvePoint]:
    scores = case_scores(results)
    multi_model = len({v.model for v in variants}) > 1
    selectors: dict[tuple[str, str], set[str]] = defaultdict(set)
    for v in variants:
        if v.selector is not None:
            selectors[(v.prompt, v.model)].add(v.selector)
    pooled: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for v in variants:
        lines = [v.selector] if v.selector else sorted(selectors[(v.prompt, v.model)]) or ["-"]
        for selector in lines:
            name = f"{v.prompt} · {selector}" + (f" · {v.model}" if multi_model else "")
            for case, values in scores.get(v.id, {}).items():
                pooled[(name, v.shots)][case].extend(values)
    points = [CurvePoint(line, k, pass_rate(cases)) for (line, k), cases in pooled.items()]
    return sorted(points, key=lambda p: (p.line, p.shots))


def curve_table(points: Sequence[CurvePoint]) -> str:
    shots = sorted({p.shots for p in points})
    lines = sorted({p.line for p in points})
    cell = {(p.line, p.shots): p.rate for p in points}
    rows = []
    for line in lines:
        row = [line]
        for k in shots:
            r = cell.get((line, k))
            row.append(
                "—" if r is None else f"{100 * r.rate:.0f}% [{100 * r.low:.0f}–{100 * r.high:.0f}]"
            )
        rows.append(row)
    return tabulate(
        rows,
        headers=["prompt · selector", *[f"k={k}" for k in shots]],
        tablefmt="simple",
        disable_numparse=True,
    )


def plot_learning_curve(points: Sequence[CurvePoint], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    by_line: dict[str, list[CurvePoint]] = defaultdict(list)
    for p in points:
        by_line[p.line].append(p)
    shots = sorted({p.shots for p in points})
    for line, pts in sorted(by_line.items()):
        pts.sort(key=lambda p: p.shots)
        xs = [p.shots for p in pts]
        ys = [100 * p.rate.rate for p in pts]
        (handle,) = ax.plot(xs, ys, marker="o", label=line)
        ax.fill_between(
            xs,
            [100 * p.rate.low for p in pts],
            [100 * p.rate.high for p in pts],
            color=handle.get_color(),
            alpha=0.15,
            linewidth=0,
        )
    ax.set_xlabel("examples in the prompt (shots)")
    ax.set_ylabel("pass rate (%), 95% CI band")
    ax.set_xticks(shots)
    ax.set_ylim(-2, 102)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
