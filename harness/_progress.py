"""The training progress bar, shared by ``harness finetune train`` and runs that train.

It lives below every package so that both the CLI and the run machinery can show it; the
library functions that train only take an ``on_step`` callback and never print.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["StepBar"]


class StepBar:
    """A training progress bar (steps, loss) on stderr; silent when not a TTY."""

    def __init__(self, desc: str) -> None:
        self._bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, step: int, total: int, loss: float) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.update(step - self._bar.n)  # a resumed training starts past zero
            self._bar.set_postfix_str(f"loss={loss:.3f}", refresh=False)

    def eval_note(self, epoch: float, loss: float) -> None:
        self.note(f"epoch {epoch:g}: eval loss {loss:.4f}")

    def note(self, text: str) -> None:
        """A line above the bar (eval loss per epoch); on stderr even without a TTY."""
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
