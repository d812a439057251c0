"""The loss curve saved with every adapter: ``loss.png`` to look at, ``loss.svg`` for the
report.  Training loss per step (with a moving average, since single steps are noisy on
small batches) and, when there was an evaluation split, eval loss per epoch.  In the SVG
each series is a group named by its ``id``: ``train-loss``, ``train-loss-mean``,
``eval-loss``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["save_loss_curve"]


def _smooth(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def save_loss_curve(
    folder: Path,
    steps: Sequence[tuple[int, float]],
    evals: Sequence[tuple[float, float]],
    *,
    steps_per_epoch: int,
    title: str,
) -> list[Path]:
    """Write ``loss.png`` and ``loss.svg`` into ``folder``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    try:
        if steps:
            xs = [step for step, _ in steps]
            ys = [loss for _, loss in steps]
            ax.plot(
                xs, ys, color="#9ab", linewidth=0.8, label="training loss (step)", gid="train-loss"
            )
            window = max(1, min(10, len(ys) // 10))
            if window > 1:
                ax.plot(
                    xs,
                    _smooth(ys, window),
                    color="#247",
                    label=f"mean of {window} steps",
                    gid="train-loss-mean",
                )
        if evals:
            ax.plot(
                [epoch * steps_per_epoch for epoch, _ in evals],
                [loss for _, loss in evals],
                "o-",
                color="#c52",
                label="eval loss (epoch)",
                gid="eval-loss",
            )
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (mean over answer tokens)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if steps or evals:
            ax.legend(fontsize=8)
        fig.tight_layout()
        paths = [folder / "loss.png", folder / "loss.svg"]
        for path in paths:
            fig.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)
        return paths
    finally:
        plt.close(fig)
