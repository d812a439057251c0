"""Experiment files: schema, loading with locations, data, and the variant plan."""

from harness.experiment.data import Case, PoolItem
from harness.experiment.load import (
    Experiment,
    Prompt,
    Validation,
    find_experiment_files,
    load_experiment,
    validate_experiment,
)
from harness.experiment.plan import Variant, match_variants, plan_variants
from harness.experiment.schema import (
    DEFAULT_MODEL,
    ExperimentSpec,
    ModelSpec,
    Params,
    PoolSpec,
    PromptSpec,
    SelectorSpec,
    SplitSpec,
    TestsSpec,
)
from harness.experiment.split import DEV, HELDOUT, CaseSplit, split_cases
from harness.experiment.trust import Trust, key_destinations, project_root

__all__ = [
    "DEFAULT_MODEL",
    "DEV",
    "HELDOUT",
    "Case",
    "CaseSplit",
    "Experiment",
    "ExperimentSpec",
    "ModelSpec",
    "Params",
    "PoolItem",
    "PoolSpec",
    "Prompt",
    "PromptSpec",
    "SelectorSpec",
    "SplitSpec",
    "TestsSpec",
    "Trust",
    "Validation",
    "Variant",
    "find_experiment_files",
    "key_destinations",
    "load_experiment",
    "match_variants",
    "plan_variants",
    "project_root",
    "split_cases",
    "validate_experiment",
]
