"""Prompt engineering and few-shot experiments: render, query, check, compare, fine-tune."""

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

__all__ = [
    "Case",
    "Experiment",
    "ExperimentError",
    "HarnessError",
    "Location",
    "Message",
    "PoolItem",
    "Problem",
    "RenderedPrompt",
    "Trust",
    "Variant",
    "load_experiment",
    "plan_variants",
    "render_variant",
    "render_variants",
    "validate_experiment",
]

__version__ = "0.1.0"
