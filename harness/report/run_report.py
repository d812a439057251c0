"""Everything a shared report shows about one run, gathered from its folder as plain records.

The HTML report, the Markdown summary and ``harness view`` all read a run through
:func:`load_run_report`, so they show the same numbers as ``harness run`` printed: the
summary is recomputed from the run's results with the variants, baseline and thresholds
recorded in ``run.json`` (a run still being written shows its journal so far).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import FinetuneError
from harness.experiment import HELDOUT, Variant
from harness.home import requests_path
from harness.report.compare import RunComparison, pair_runs
from harness.report.curve import CurvePoint, learning_curve
from harness.report.decide import Decision, decide
from harness.report.summary import Summary, case_scores, is_finetuned, summarize_run
from harness.report.training import TrainingRecord, training_records
from harness.results import Result
from harness.run_requests import RequestLog, read_requests
from harness.runs import RunDir
from harness.stats import Paired, paired_comparison

__all__ = ["MAX_PAIRED_VARIANTS", "RunReport", "load_run_report", "variant_from_id"]

#: Above this many variants the two-variant view counts cases without a precomputed p.
MAX_PAIRED_VARIANTS = 60


@dataclass(frozen=True)
class RunReport:
    """One run as its report shows it."""

    run: RunDir
    meta: Mapping[str, Any]
    variants: tuple[Variant, ...]
    results: Sequence[Result]
    summary: Summary  # a split run's held-out table: the answer
    requests: RequestLog
    curve: list[CurvePoint]
    pairs: dict[tuple[str, str], Paired] = field(default_factory=dict)
    decision: Decision | None = None
    against: RunComparison | None = None
    selection: Summary | None = None  # a split run's dev table: how the winner was chosen
    training: list[TrainingRecord] = field(default_factory=list)  # its adapters' training

    @property
    def status(self) -> str:
        return str(self.meta.get("status") or "unknown")


def variant_from_id(variant_id: str) -> Variant:
    """A variant rebuilt from its id, for runs recorded before ``variant_records``."""
    parts = variant_id.split("/")
    prompt, model = parts[0], parts[-1]
    shots = int(parts[1][1:]) if len(parts) > 1 and parts[1][1:].isdigit() else 0
    selector = parts[2] if len(parts) > 3 else None
    seed = int(parts[3][1:]) if len(parts) > 4 and parts[3][1:].isdigit() else None
    return Variant(variant_id, prompt, shots, selector, seed, model)


def _variants(meta: Mapping[str, Any], results: Sequence[Result]) -> tuple[Variant, ...]:
    records = meta.get("variant_records")
    if isinstance(records, list):
        try:
            return tuple(Variant(**r) for r in records)
        except TypeError:
            pass  # hand-edited: fall back to the ids
    ids = meta.get("variants") or sorted({r.variant for r in results})
    return tuple(variant_from_id(str(v)) for v in ids)


def _pairs(variants: Sequence[Variant], results: Sequence[Result]) -> dict[tuple[str, str], Paired]:
    if len(variants) > MAX_PAIRED_VARIANTS:
        return {}
    scores = case_scores(results)
    means = {v: {c: sum(s) / len(s) for c, s in cs.items()} for v, cs in scores.items()}
    return {
        (a.id, b.id): paired_comparison(means.get(a.id, {}), means.get(b.id, {}))
        for a, b in itertools.combinations(variants, 2)
    }


def _threshold(meta: Mapping[str, Any]) -> float | Mapping[str, float] | None:
    value = meta.get("min_pass_rate")
    return value if isinstance(value, (int, float, dict)) else None


def load_run_report(
    run: RunDir,
    *,
    against: RunDir | None = None,
    home: Path | None = None,
    results: Sequence[Result] | None = None,
    summary: Summary | None = None,
    selection: Summary | None = None,
    requests: RequestLog | None = None,
) -> RunReport:
    """The report of ``run`` (compared with the earlier run ``against`` when given).

    A run that just finished passes what it holds (``results``, ``summary``, ``requests``)
    rather than have them read back from its files."""
    meta = run.meta()
    results = list(run.results()) if results is None else list(results)
    variants = _variants(meta, results)
    if summary is None:
        baseline = meta.get("baseline")
        summary, selection = summarize_run(
            variants,
            results,
            baseline=baseline if isinstance(baseline, str) else None,
            min_pass_rate=_threshold(meta),
        )
    decision, training = None, []
    if any(is_finetuned(v) for v in variants):
        training = training_records(variants, home)
        try:
            decision = decide(_Decidable(summary, results, selection), home)
        except FinetuneError as exc:  # a served adapter not trained here: said, not fatal
            decision = Decision(f"No decision: {exc}", "none")
    return RunReport(
        run=run,
        meta=meta,
        variants=variants,
        results=results,
        summary=summary,
        requests=requests if requests is not None else read_requests(requests_path(run.path)),
        curve=_curve(variants, results),
        pairs=_pairs(variants, results),
        decision=decision,
        against=pair_runs(against, run) if against is not None else None,
        selection=selection,
        training=training,
    )


def _curve(variants: Sequence[Variant], results: Sequence[Result]) -> list[CurvePoint]:
    """Pass rate by shots over every variant: a split run's from its dev cases, which
    every variant ran on."""
    if len({v.shots for v in variants}) < 2:
        return []
    return learning_curve(variants, [r for r in results if r.split != HELDOUT])


@dataclass(frozen=True)
class _Decidable:
    summary: Summary
    results: Sequence[Result]
    selection: Summary | None = None
