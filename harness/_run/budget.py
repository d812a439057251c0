"""``--max-cost``: a request is sent only when its worst case still fits in the budget.

What a request costs is known only from its response, and servers may report more tokens
than estimated (200 prompt tokens against an estimate of 12 once spent $1,818 of $500). So
each request reserves its worst case before it is sent: its prompt tokens (counted exactly
where the model's tokenizer is known) scaled by the largest ratio of reported to estimated
prompt tokens seen for its model, plus ``max_tokens`` of completion (scaled likewise when a
server reports more). Until a model's first response is in, nothing is known about how its
server counts, so only one request for that model is in flight. A request that does not fit
beside those in flight waits for them to settle (reservations are worst cases, usually well
above what a request costs); one that does not fit on its own stops the run.

Spending can therefore pass the budget only by what requests cost beyond their reservation:
a model's first request (alone in flight), or one whose server counted more than for any
earlier one; in practice at most one request's cost. The budget holds for a whole run: what
earlier attempts of a resumed run spent is counted as spent.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.models.pricing import Price, PromptCounter, estimate_prompt_tokens
from harness.results import Result
from harness.runs import RunDir

__all__ = ["Budget", "Reservation", "budget_limit", "spent_by"]


@dataclass
class Reservation:
    """The worst case of one request, held from before it is sent until it settles."""

    model: str
    amount: float
    prompt_tokens: int  # estimated
    max_tokens: int
    open: bool = True


@dataclass
class _Calibration:
    """How a model's server counts, relative to the estimate: from its responses so far."""

    prompt_ratio: float = 1.0  # never below 1: an estimate is trusted only upwards
    completion_ratio: float = 1.0
    known: bool = False  # a response is in
    probing: bool = False  # the first request is in flight; the others wait for it


class Budget:
    """The money a run may spend: ``spent`` so far plus ``reserved`` in flight <= ``limit``."""

    def __init__(
        self,
        limit: float,
        prices: Mapping[str, Price | None],
        *,
        spent: float = 0.0,
        counters: Mapping[str, PromptCounter] | None = None,
    ) -> None:
        self.limit = limit
        self.spent = spent
        self.reserved = 0.0
        self.refused = False
        self._prices = prices
        self._counters = counters or {}
        self._models: dict[str, _Calibration] = {}
        self._in_flight = 0
        self._stopped = False
        self._changed: asyncio.Event | None = None

    def prompt_tokens(self, model: str, messages: Iterable[Mapping[str, object]]) -> int:
        counter = self._counters.get(model)
        return counter(messages) if counter is not None else estimate_prompt_tokens(messages)

    def worst_case(self, model: str, prompt_tokens: int, max_tokens: int) -> float:
        """The most a request may cost, as far as this model's responses so far tell."""
        price = self._prices.get(model)
        if price is None:
            return 0.0  # unpriced: its spending is unknown and not budgeted
        cal = self._models.get(model) or _Calibration()
        return price.cost(
            round(prompt_tokens * cal.prompt_ratio), round(max_tokens * cal.completion_ratio)
        )

    async def reserve(self, model: str, prompt_tokens: int, max_tokens: int) -> Reservation | None:
        """Hold this request's worst case, waiting for room; None when it can never fit."""
        price = self._prices.get(model)
        if price is None or not (price.input or price.output):  # free, or spending unknown
            return Reservation(model, 0.0, prompt_tokens, max_tokens)
        cal = self._models.setdefault(model, _Calibration())
        while not self._stopped:
            if cal.probing:
                await self._wait()
                continue
            amount = self.worst_case(model, prompt_tokens, max_tokens)
            if self.spent + self.reserved + amount <= self.limit:
                self.reserved += amount
                self._in_flight += 1
                cal.probing = not cal.known
                return Reservation(model, amount, prompt_tokens, max_tokens)
            if self._in_flight == 0:
                self.refused = True
                return None
            await self._wait()
        return None

    def settle(
        self,
        reservation: Reservation,
        cost: float | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
    ) -> float:
        """The request was answered: what it spent, learning how its server counts.

        Returns the amount charged: ``cost``, or the reservation when a priced model's
        response carried no usage (the money was spent all the same).
        """
        if not reservation.open:
            return 0.0
        charged = cost if cost is not None else reservation.amount
        cal = self._models.get(reservation.model)
        if cal is not None:
            if prompt_tokens is not None and reservation.prompt_tokens > 0:
                cal.prompt_ratio = max(cal.prompt_ratio, prompt_tokens / reservation.prompt_tokens)
            if completion_tokens is not None and reservation.max_tokens > 0:
                cal.completion_ratio = max(
                    cal.completion_ratio, completion_tokens / reservation.max_tokens
                )
            cal.known = True  # without usage there is nothing more to learn from waiting
        self.spent += charged
        self._close(reservation)
        return charged

    def release(self, reservation: Reservation) -> None:
        """The request failed without a response: nothing known spent, nothing learnt."""
        if reservation.open:
            self._close(reservation)

    def stop(self) -> None:
        """The run is stopping: requests waiting for room give up."""
        self._stopped = True
        self._wake()

    def _close(self, reservation: Reservation) -> None:
        reservation.open = False
        cal = self._models.get(reservation.model)
        if cal is None:
            return  # free or unpriced: never counted in flight
        cal.probing = False
        self._in_flight -= 1
        self.reserved = self.reserved - reservation.amount if self._in_flight else 0.0
        self._wake()

    async def _wait(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


def spent_by(results: Iterable[Result]) -> float:
    """What earlier attempts of a run spent: each request once (identical ones share it)."""
    costs: dict[str, float] = {}
    for result in results:
        if result.cost and not result.cached:
            costs[result.key] = max(costs.get(result.key, 0.0), result.cost)
    return sum(costs.values())


def budget_limit(max_cost: float | None, run: RunDir | None) -> float | None:
    """A run's budget: ``--max-cost``, else (continuing ``run``) the one it was started with.

    A budget holds for the whole run: a resume without ``--max-cost`` keeps the run's, and
    one with it replaces it from then on (recorded in the run's ``run.json``).
    """
    if run is None:
        return max_cost
    stored = run.meta().get("options")
    stored = stored if isinstance(stored, dict) else {}
    recorded = _amount(stored.get("max_cost"))
    if max_cost is None:
        return recorded
    if recorded != max_cost:
        run.update(options={**stored, "max_cost": max_cost})
    return max_cost


def _amount(value: object) -> float | None:
    """A budget read back from run.json, which may have been edited: a number, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None
