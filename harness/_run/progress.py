"""A progress bar on stderr (done/total, errors, tokens, cost, ETA); silent when not a TTY.

While a retry waits on a server's ``Retry-After``, the bar says so (and when the wait was
capped), so that a run that seems stuck is seen to be waiting, and for how long.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from harness._run.runner import RunStats
from harness.results import Result

__all__ = ["Progress"]


class Progress:
    def __init__(self, total: int, *, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                file=sys.stderr,
                unit="req",
                dynamic_ncols=True,
                mininterval=0.2,
                smoothing=0.05,
            )
        self._last = 0.0
        self._stats: RunStats | None = None
        self._waiting = ""
        self._waiting_until = 0.0

    def update(self, result: Result, stats: RunStats) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.monotonic()
        if now - self._last > 0.5:
            self._last = now
            self._stats = stats
            self._bar.set_postfix_str(self._postfix(now), refresh=False)

    def waiting(self, note: str, seconds: float) -> None:
        """A retry waits ``seconds`` (e.g. "waiting 60s (Retry-After, capped from 600s)")."""
        if self._bar is None:
            return
        now = time.monotonic()
        self._waiting, self._waiting_until = note, now + seconds
        self._bar.set_postfix_str(self._postfix(now), refresh=True)

    def _postfix(self, now: float) -> str:
        parts = []
        stats = self._stats
        if stats is not None:
            tokens = stats.prompt_tokens + stats.completion_tokens
            parts.append(
                f"errors={stats.errors} cached={stats.cached} tokens={tokens:,} "
                f"cost=${stats.cost:.4f}"
            )
        if now < self._waiting_until:
            parts.append(self._waiting)
        return " ".join(parts)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        if self._bar is not None:
            self._bar.close()
