"""Machine time, shared fairly among the work running on one machine at once.

A batch of a local model, or a request to a model served elsewhere, holds its machine for
some wall time; when several run at once (two local models generating in two threads on
one CPU, eight requests in flight to one vLLM server), that wall time is the machine's
once, not once per job. A :class:`MachineClock` therefore gives each running job an equal
share of every instant: while ``n`` jobs run, each accrues ``1/n`` of the elapsed time, so
the shares of all jobs add up to the time the machine was busy. ``harness decide`` prices
a query by these seconds (see :mod:`harness.report.decide`).
"""

from __future__ import annotations

import threading
import time

__all__ = ["MachineClock", "machine_clock"]


class MachineClock:
    """Processor-sharing time on one machine: ``start()`` a job, ``stop()`` it for its share.

    It keeps one running integral of ``dt / n`` (``n`` the jobs running), so a job's share
    is that integral at its end less its value at its start: constant time per event.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._shared = 0.0  # seconds accrued by a job running since the clock began
        self._since = time.perf_counter()

    def _advance(self) -> float:
        now = time.perf_counter()
        if self._running:
            self._shared += (now - self._since) / self._running
        self._since = now
        return self._shared

    def start(self) -> float:
        """A job begins; keep what this returns for :meth:`stop`."""
        with self._lock:
            mark = self._advance()
            self._running += 1
            return mark

    def stop(self, mark: float) -> float:
        """The job begun at ``mark`` ends: its share of the machine, in seconds."""
        with self._lock:
            now = self._advance()
            self._running = max(self._running - 1, 0)
            return max(now - mark, 0.0)


_CLOCKS: dict[str, MachineClock] = {}
_CLOCKS_LOCK = threading.Lock()


def machine_clock(machine: str) -> MachineClock:
    """The process-wide clock of ``machine`` (``cpu``, ``cuda:0``, a server's URL)."""
    with _CLOCKS_LOCK:
        clock = _CLOCKS.get(machine)
        if clock is None:
            clock = _CLOCKS[machine] = MachineClock()
        return clock
