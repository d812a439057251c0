"""The variant plan: prompts × shots × selectors × seeds × models, each with a readable id.

Ids read left to right as the experiment's axes: ``terse/k3/random/s0/local:smollm2``.
Zero-shot variants see no examples, so selectors and seeds collapse (``terse/k0/local:smollm2``);
selectors that ignore the seed (first, fixed, similar) drop the ``sN`` part rather than
repeating identical work under several ids.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from harness.experiment.schema import ExperimentSpec

__all__ = ["Variant", "match_variants", "plan_variants"]


@dataclass(frozen=True)
class Variant:
    """One cell of the experiment grid."""

    id: str
    prompt: str
    shots: int
    selector: str | None
    seed: int | None
    model: str
    #: The trained LoRA adapter the model serves (its ``adapter`` option): the variant is
    #: that adapter's fine-tuned model (see ``harness.report.summary.is_finetuned``).
    adapter: str | None = None
    #: USD per hour of the machine running the model (its ``compute_price``), which
    #: ``harness decide`` prices its measured machine time with.
    compute_price: float | None = None

    @property
    def label(self) -> str:
        """The id without the model part, for tables with a model column."""
        return self.id.rsplit("/", 1)[0] if "/" in self.id else self.id


def plan_variants(experiment: ExperimentSpec) -> tuple[Variant, ...]:
    """Expand the experiment's axes into variants, without duplicates, in file order."""
    out: list[Variant] = []
    seen: set[str] = set()
    for prompt in experiment.prompts:
        for model in experiment.models:
            for k in _unique(experiment.shots):
                for variant in _variants_for(experiment, prompt.id, k, model.key):
                    if variant.id not in seen:
                        seen.add(variant.id)
                        out.append(
                            replace(
                                variant, adapter=model.adapter, compute_price=model.compute_price
                            )
                        )
    return tuple(out)


def _variants_for(experiment: ExperimentSpec, prompt: str, k: int, model: str) -> Iterable[Variant]:
    if k == 0:
        yield Variant(f"{prompt}/k0/{model}", prompt, 0, None, None, model)
        return
    for selector in experiment.selectors:
        if not selector.uses_seed:
            yield Variant(
                f"{prompt}/k{k}/{selector.key}/{model}", prompt, k, selector.key, None, model
            )
            continue
        for seed in _unique(experiment.seeds):
            vid = f"{prompt}/k{k}/{selector.key}/s{seed}/{model}"
            yield Variant(vid, prompt, k, selector.key, seed, model)


def match_variants(variants: Sequence[Variant], patterns: Sequence[str]) -> tuple[Variant, ...]:
    """Variants whose id equals or glob-matches any pattern (``terse/*``, ``*/k3/*``)."""
    if not patterns:
        return tuple(variants)
    return tuple(
        v for v in variants if any(v.id == p or fnmatch.fnmatchcase(v.id, p) for p in patterns)
    )


def _unique(values: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(values))
