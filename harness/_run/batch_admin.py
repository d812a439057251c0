"""``harness batch status|collect|cancel RUN``: a run's batches, days after submitting them.

The run's ``batches.json`` names every batch; the experiment file the run was made from
(its ``source``) gives the models, and so the endpoint and key, to ask about them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from harness._run.batch import TERMINAL, BatchEntry, load_entries, save_entries, update_entry
from harness.errors import HarnessError
from harness.experiment import Trust, load_experiment
from harness.home import harness_home
from harness.models.registry import create_provider
from harness.runs import RunDir, find_resumable, open_run

if TYPE_CHECKING:
    from harness._run.api import RunResult

__all__ = ["batch_status", "cancel_batches", "collect_batches"]


def _run_and_source(run_ref: str, home: Path | None) -> tuple[RunDir, Path]:
    run = open_run(harness_home(home), run_ref)
    if not load_entries(run.path):
        raise HarnessError(f"run {run.id} has no batches")
    source = run.meta().get("source")
    if not isinstance(source, str) or not Path(source).exists():
        raise HarnessError(f"run {run.id}: its experiment file {source!r} is not there")
    return run, Path(source)


async def _with_providers(
    run: RunDir, source: Path, home: Path | None, trust: Trust | None, cancel: bool
) -> list[BatchEntry]:

    exp = load_experiment(source, trust=trust)
    specs = {m.key: m for m in exp.spec.models}
    entries = load_entries(run.path)
    providers = {}
    try:
        for entry in entries:
            if entry.batch_id is None or entry.status in TERMINAL:
                continue
            if entry.model not in providers:
                spec = specs.get(entry.model)
                if spec is None:
                    raise HarnessError(f"model {entry.model} is no longer in {source}")
                providers[entry.model] = create_provider(spec.ref, spec.options, home=home)
            provider = providers[entry.model]
            if cancel:
                await provider.cancel_batch(entry.batch_id)  # type: ignore[attr-defined]
            update_entry(entry, await provider.retrieve_batch(entry.batch_id))  # type: ignore[attr-defined]
        save_entries(run.path, entries)
    finally:
        for provider in providers.values():
            await provider.aclose()
    return entries


def batch_status(
    run_ref: str, *, home: Path | None = None, trust: Trust | None = None
) -> list[BatchEntry]:
    """The run's batches, their unfinished ones asked about now."""
    run, source = _run_and_source(run_ref, home)
    return asyncio.run(_with_providers(run, source, home, trust, cancel=False))


def cancel_batches(
    run_ref: str, *, home: Path | None = None, trust: Trust | None = None
) -> list[BatchEntry]:
    """Cancel the run's unfinished batches (what they answered stays collectable)."""
    run, source = _run_and_source(run_ref, home)
    return asyncio.run(_with_providers(run, source, home, trust, cancel=True))


def collect_batches(
    run_ref: str,
    *,
    home: Path | None = None,
    trust: Trust | None = None,
    resubmit: bool = False,
    direct_remainder: bool = False,
) -> RunResult:
    """Wait for the run's batches and finish the run (``harness run EXP --resume``)."""
    from harness._run.api import run as run_experiment

    run, source = _run_and_source(run_ref, home)
    if run.meta().get("status") == "finished":
        raise HarnessError(f"run {run.id} is finished: its batches were collected")
    latest = find_resumable(harness_home(home), source)
    if latest is None or latest.id != run.id:
        raise HarnessError(f"run {run.id} is not the latest unfinished run of {source}")
    return run_experiment(
        load_experiment(source, trust=trust),
        home=home,
        resume=True,
        batch=True,
        resubmit=resubmit,
        direct_remainder=direct_remainder,
    )
