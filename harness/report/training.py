"""How each fine-tuned model in a run was trained, for the report: the training record an
adapter keeps (``harness.json`` in the harness home, or in a merged export's folder) read
back as plain numbers, so the report draws its own loss curve rather than embed a file.

A record is checked as it is read: the numbers must be finite and the lists well formed,
else that adapter is left out; nothing in a record reaches the page except as numbers or
escaped text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.adapter_records import adapter_record, exported_training
from harness.experiment import Variant
from harness.home import harness_home
from harness.report.decide import adapter_of

__all__ = ["TrainingRecord", "training_records"]

_MAX_POINTS = 100_000  # a record is a file: bound what the page draws


@dataclass(frozen=True)
class TrainingRecord:
    """One adapter's training, as the report shows it."""

    adapter: str
    losses: tuple[float, ...]  # the training loss at each optimizer step
    evals: tuple[tuple[float, float], ...]  # (epoch, eval loss)
    epochs: float  # epochs run (fewer than asked when early stopping ended it)
    examples: int | None
    seconds: float | None
    device: str

    @property
    def caption(self) -> str:
        parts = [f"{len(self.losses)} steps"]
        if self.examples is not None:
            parts.insert(0, f"{self.examples} examples")
        if self.seconds is not None:
            parts.append(f"{self.seconds:.0f} s on {self.device}")
        if self.evals:
            parts.append("eval loss " + ", ".join(f"{loss:.4f}" for _, loss in self.evals))
        return f"{self.adapter}: " + "; ".join(parts)


def training_records(variants: Iterable[Variant], home: Path | None = None) -> list[TrainingRecord]:
    """The training record of each adapter the run's fine-tuned variants use, once each."""
    root = harness_home(home)
    found: dict[str, TrainingRecord] = {}
    for variant in variants:
        adapter = adapter_of(variant)
        if adapter is None or adapter[0] in found:
            continue
        name = adapter[0]
        record = exported_training(variant.model) or adapter_record(root, name)
        parsed = _parse(name, record) if record is not None else None
        if parsed is not None:
            found[name] = parsed
    return list(found.values())


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _parse(name: str, record: Mapping[str, Any]) -> TrainingRecord | None:
    raw_losses = record.get("losses")
    if not isinstance(raw_losses, list) or not 0 < len(raw_losses) <= _MAX_POINTS:
        return None
    losses = [_number(v) for v in raw_losses]
    raw_evals = record.get("eval_losses") or []
    if not isinstance(raw_evals, list) or len(raw_evals) > _MAX_POINTS:
        return None
    evals = [
        (_number(e[0]), _number(e[1])) if isinstance(e, list) and len(e) == 2 else (None, None)
        for e in raw_evals
    ]
    if any(v is None for v in losses) or any(a is None or b is None for a, b in evals):
        return None
    config = record.get("config")
    asked = _number(config.get("epochs")) if isinstance(config, dict) else None
    epochs = max((e for e, _ in evals if e is not None), default=asked or 1.0)
    examples = record.get("examples")
    return TrainingRecord(
        adapter=name,
        losses=tuple(v for v in losses if v is not None),
        evals=tuple((a, b) for a, b in evals if a is not None and b is not None),
        epochs=max(epochs, 1e-9),
        examples=examples if isinstance(examples, int) and not isinstance(examples, bool) else None,
        seconds=_number(record.get("seconds")),
        device=str(record.get("device") or "cpu")[:40],
    )
