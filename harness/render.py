"""Rendering: a variant and a test case become the exact chat messages sent to the model.

The shots are chosen by the variant's selector; the messages are built by
:func:`harness.experiment.messages.build_messages`, the same function validation renders
every case with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.experiment.data import Case, PoolItem
from harness.experiment.load import Experiment
from harness.experiment.messages import Message, Prompt, Role, Shot, build_messages
from harness.experiment.plan import Variant
from harness.shots.selectors import ShotSelector, build_selector

__all__ = [
    "Message",
    "RenderedPrompt",
    "Role",
    "prepare_selectors",
    "render_messages",
    "render_variant",
    "render_variants",
]


@dataclass(frozen=True)
class RenderedPrompt:
    """What one (variant, case) sends to the model, and which shots it saw."""

    variant: str
    case: str
    messages: tuple[Message, ...]
    shots: tuple[str, ...]


def render_messages(
    prompt: Prompt,
    case_vars: Mapping[str, Any],
    shots: Sequence[PoolItem],
    *,
    style: Literal["multiturn", "inline"],
    experiment: Experiment,
) -> tuple[Message, ...]:
    """The messages for one case with the given pool items as shots (raises ``TemplateError``)."""
    shown = [Shot(item.vars, experiment.answer_for(item), item.id) for item in shots]
    return build_messages(prompt, case_vars, shown, style)


def prepare_selectors(experiment: Experiment) -> dict[str, ShotSelector[PoolItem]]:
    """One prepared selector per selector key (similarity indexes are built here, once)."""
    pool_spec = experiment.spec.examples
    if pool_spec is None or not experiment.pool:
        return {}
    return {
        spec.key: build_selector(
            spec, experiment.pool, match_on=pool_spec.match_on, balance_on=pool_spec.balance_on
        )
        for spec in experiment.spec.selectors
    }


def render_variant(
    experiment: Experiment,
    variant: Variant,
    case: Case,
    selectors: Mapping[str, ShotSelector[PoolItem]] | None = None,
) -> RenderedPrompt:
    """Render ``case`` under ``variant``: choose its shots, then build its messages."""
    if selectors is None:
        selectors = prepare_selectors(experiment)
    shots: tuple[PoolItem, ...] = ()
    if variant.shots > 0 and variant.selector is not None:
        shots = selectors[variant.selector].select(case, variant.shots, variant.seed)
    messages = render_messages(
        experiment.prompt(variant.prompt),
        case.vars,
        shots,
        style=experiment.spec.style,
        experiment=experiment,
    )
    return RenderedPrompt(variant.id, case.id, messages, tuple(s.id for s in shots))


def render_variants(
    experiment: Experiment, variants: Sequence[Variant], cases: Sequence[Case] | None = None
) -> Iterator[RenderedPrompt]:
    """Every (variant, case) rendering, variant-major, sharing one set of selectors."""
    selectors = prepare_selectors(experiment)
    for variant in variants:
        for case in experiment.cases if cases is None else cases:
            yield render_variant(experiment, variant, case, selectors)
