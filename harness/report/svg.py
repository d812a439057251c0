"""The report's charts as inline SVG: the learning curve (pass rate by shots, one line per
prompt × selector) and each adapter's training loss (with its eval loss per epoch).

Drawn by hand rather than by matplotlib so the report stays small and its text stays text
(selectable, searchable, readable at any zoom). Each line has its 95% band; every point
carries a ``<title>`` with its exact numbers, shown on hover.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from html import escape

from harness.report.curve import CurvePoint
from harness.report.training import TrainingRecord

__all__ = ["curve_svg", "loss_svg"]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000")
_W, _H = 720, 340
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 220, 20, 44


def curve_svg(points: Sequence[CurvePoint], title: str = "pass rate vs shots") -> str:
    """An ``<svg>`` element; empty when there is no curve (a single shot count)."""
    if not points:
        return ""
    lines: dict[str, list[CurvePoint]] = defaultdict(list)
    for p in points:
        lines[p.line].append(p)
    shots = sorted({p.shots for p in points})
    span = max(shots[-1] - shots[0], 1)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(k: int) -> float:
        return _LEFT + (k - shots[0]) / span * plot_w

    def y(rate: float) -> float:
        return _TOP + (1 - rate) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
        f'class="curve" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        '<g class="grid">',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>'
        )
    for k in shots:
        out.append(f'<text x="{x(k):.1f}" y="{_TOP + plot_h + 18}" text-anchor="middle">{k}</text>')
    out.append(
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_H - 6}" text-anchor="middle">'
        "shots (few-shot examples in the prompt)</text>"
        f'<text transform="translate(14 {_TOP + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">pass rate</text></g>'
    )
    for i, (name, line) in enumerate(sorted(lines.items())):
        colour = _COLOURS[i % len(_COLOURS)]
        line.sort(key=lambda p: p.shots)
        upper = " ".join(f"{x(p.shots):.1f},{y(p.rate.high):.1f}" for p in line)
        lower = " ".join(f"{x(p.shots):.1f},{y(p.rate.low):.1f}" for p in reversed(line))
        path = " ".join(f"{x(p.shots):.1f},{y(p.rate.rate):.1f}" for p in line)
        out.append(
            f'<g class="series" style="color:{colour}"><title>{escape(name)}</title>'
            f'<polygon class="band" points="{upper} {lower}"/>'
            f'<polyline points="{path}"/>'
        )
        for p in line:
            tip = (
                f"{name}, {p.shots} shots: {p.rate.rate:.1%} "
                f"[{p.rate.low:.0%}–{p.rate.high:.0%}], {p.rate.cases} cases"
            )
            out.append(
                f'<circle cx="{x(p.shots):.1f}" cy="{y(p.rate.rate):.1f}" r="4">'
                f"<title>{escape(tip)}</title></circle>"
            )
        ly = _TOP + 14 + 20 * i
        out.append(
            f'<line x1="{_W - _RIGHT + 16}" x2="{_W - _RIGHT + 36}" y1="{ly - 4}" y2="{ly - 4}"/>'
            f'<text class="legend" x="{_W - _RIGHT + 42}" y="{ly}">{escape(_clip(name))}</text>'
            "</g>"
        )
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def loss_svg(record: TrainingRecord) -> str:
    """An ``<svg>`` element: training loss by epoch (each optimizer step a point of the
    line) and the eval loss at the end of each epoch, as dots."""
    losses, evals = record.losses, record.evals
    highest = max([*losses, *(loss for _, loss in evals)])
    step_y = _nice_step(highest if highest > 0 else 1.0)
    rungs = max(1, math.ceil(highest / step_y - 1e-9))  # at most 4 with the step chosen
    ticks = [step_y * i for i in range(rungs + 1)]
    top = ticks[-1]
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    per_step = record.epochs / len(losses)

    def x(epoch: float) -> float:
        return _LEFT + epoch / record.epochs * plot_w

    def y(loss: float) -> float:
        return _TOP + (1 - loss / top) * plot_h

    title = f"{record.adapter}: training loss"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
        f'class="curve loss" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        '<g class="grid">',
    ]
    for tick in ticks:
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.3g}</text>'
        )
    step = max(1, math.ceil(record.epochs / 10))
    for epoch in range(0, math.floor(record.epochs) + 1, step):
        out.append(
            f'<text x="{x(epoch):.1f}" y="{_TOP + plot_h + 18}" text-anchor="middle">{epoch}</text>'
        )
    out.append(
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_H - 6}" text-anchor="middle">epoch</text>'
        f'<text transform="translate(14 {_TOP + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">loss</text></g>'
    )
    path = " ".join(f"{x((i + 1) * per_step):.1f},{y(v):.1f}" for i, v in enumerate(losses))
    out.append(
        f'<g class="series" id="train-loss" style="color:{_COLOURS[0]}"><title>training loss'
        f'</title><polyline points="{path}"/>'
        f'<line x1="{_W - _RIGHT + 16}" x2="{_W - _RIGHT + 36}" y1="{_TOP + 10}" '
        f'y2="{_TOP + 10}"/><text class="legend" x="{_W - _RIGHT + 42}" y="{_TOP + 14}">'
        "training loss</text></g>"
    )
    if evals:
        out.append(f'<g class="series" id="eval-loss" style="color:{_COLOURS[1]}">')
        for at, loss in evals:
            tip = f"epoch {at:g}: eval loss {loss:.4f}"
            out.append(
                f'<circle cx="{x(at):.1f}" cy="{y(loss):.1f}" r="4">'
                f"<title>{escape(tip)}</title></circle>"
            )
        out.append(
            f'<circle cx="{_W - _RIGHT + 26}" cy="{_TOP + 30}" r="4"/><text class="legend" '
            f'x="{_W - _RIGHT + 42}" y="{_TOP + 34}">eval loss</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _nice_step(highest: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about four ticks up to
    ``highest``."""
    raw = highest / 4
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))
