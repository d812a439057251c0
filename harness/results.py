"""Result records: one per (variant, case, repeat), from the runner through checks to reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["CheckOutcome", "Result"]


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict on one output, with the reason people read when it fails."""

    name: str
    passed: bool
    reason: str = ""
    score: float | None = None
    weight: float = 1.0
    #: The check could not be evaluated (the result is then an error, not a failure).
    error: bool = False


@dataclass(frozen=True)
class Result:
    """What one request produced. ``error`` is set when the request failed (not a check)."""

    variant: str
    case: str
    repeat: int
    key: str
    output: str | None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None
    finish_reason: str | None = None
    cost: float | None = None
    cached: bool = False
    shots: tuple[str, ...] = ()
    passed: bool | None = None
    score: float | None = None
    checks: tuple[CheckOutcome, ...] = field(default_factory=tuple)
    #: ``dev`` (chose the winner) or ``heldout`` (reports it) in a split experiment.
    split: str | None = None
    #: Machine seconds the answer took, amortised over what the machine computed at once
    #: (a local batch's rows, requests in flight to one server), and the device (``cpu``,
    #: ``cuda:0``; None for a server elsewhere). A cached answer (``cached``) keeps the time
    #: measured when it was generated: what answering it costs, though this run spent none.
    compute_s: float | None = None
    compute_device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copies and is 9x slower on the hot path.
        data = {name: getattr(self, name) for name in _FIELDS}
        data["shots"] = list(self.shots)
        data["checks"] = [c.__dict__.copy() for c in self.checks]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        values = dict(data)
        values["shots"] = tuple(values.get("shots") or ())
        values["checks"] = tuple(CheckOutcome(**c) for c in values.get("checks") or ())
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


_FIELDS = tuple(f.name for f in fields(Result))
