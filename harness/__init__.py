"""Prompt engineering and few-shot experiments: render, query, check, compare, fine-tune.

Running (``run``, ``estimate``, ``select_variants`` and their records) loads on first use:
the run machinery pulls in numpy, scipy and HTTP clients, which ``harness --version``,
``harness validate`` and a plain ``import harness`` should not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness.errors import ExperimentError, HarnessError, Location, Problem
from harness.experiment import (
    Case,
    Experiment,
    PoolItem,
    Trust,
    Variant,
    load_experiment,
    plan_variants,
    validate_experiment,
)
from harness.render import Message, RenderedPrompt, render_variant, render_variants

if TYPE_CHECKING:
    from harness._run.api import (
        RunEstimate,
        RunResult,
        VariantEstimate,
        VariantResult,
        estimate,
        run,
        select_variants,
    )
    from harness._run.batch import BatchEntry, BatchesSubmitted
    from harness._run.batch_admin import batch_status, cancel_batches, collect_batches
    from harness._run.runner import RunStats
    from harness.optimize import Optimized, optimize_shots

__all__ = [
    "BatchEntry",
    "BatchesSubmitted",
    "Case",
    "Experiment",
    "ExperimentError",
    "HarnessError",
    "Location",
    "Message",
    "Optimized",
    "PoolItem",
    "Problem",
    "RenderedPrompt",
    "RunEstimate",
    "RunResult",
    "RunStats",
    "Trust",
    "Variant",
    "VariantEstimate",
    "VariantResult",
    "batch_status",
    "cancel_batches",
    "collect_batches",
    "estimate",
    "load_experiment",
    "optimize_shots",
    "plan_variants",
    "render_variant",
    "render_variants",
    "run",
    "select_variants",
    "validate_experiment",
]

__version__ = "0.1.0"

_LAZY = {
    "BatchEntry": "harness._run.batch",
    "BatchesSubmitted": "harness._run.batch",
    "batch_status": "harness._run.batch_admin",
    "cancel_batches": "harness._run.batch_admin",
    "collect_batches": "harness._run.batch_admin",
    "RunEstimate": "harness._run.api",
    "RunResult": "harness._run.api",
    "RunStats": "harness._run.runner",
    "VariantEstimate": "harness._run.api",
    "VariantResult": "harness._run.api",
    "estimate": "harness._run.api",
    "Optimized": "harness.optimize",
    "optimize_shots": "harness.optimize",
    "run": "harness._run.api",
    "select_variants": "harness._run.api",
}


def __getattr__(name: str) -> Any:
    """Load a running name on first access (PEP 562), then keep it as a plain attribute."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
