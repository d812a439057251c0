"""Fine-tuning's numbers: token distributions, per-example limits, default epochs, prices.

Token counting itself is a model concern and lives in :mod:`harness.models.tokens`; its
functions are re-exported here for the fine-tuning checks that use them.

Model names may carry the harness's provider prefix (``openai:gpt-4o-mini``) or be a
fine-tuned id (``ft:gpt-4o-mini-2024-07-18:org::abc``); both resolve to their base model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.models.tokens import (
    Tokenizer,
    base_model,
    count_message_tokens,
    encoding_name,
    is_local,
    tokenizer_label,
)

__all__ = [
    "DEFAULT_TOKEN_LIMIT",
    "TOKEN_LIMITS",
    "TRAINING_PRICES_PER_M",
    "Distribution",
    "Tokenizer",
    "base_model",
    "count_message_tokens",
    "default_epochs",
    "encoding_name",
    "is_local",
    "token_limit",
    "tokenizer_label",
    "training_price",
]

DEFAULT_TOKEN_LIMIT = 65_536  # per training example, gpt-4o-mini style models

# Per-example training limits, by model family; dated snapshots match by longest prefix.
TOKEN_LIMITS: dict[str, int] = {
    "gpt-3.5-turbo": 16_385,  # the guide's model
    "gpt-4o-mini": 65_536,
    "gpt-4o": 65_536,
    "gpt-4.1-nano": 65_536,
    "gpt-4.1-mini": 65_536,
    "gpt-4.1": 65_536,
}

# USD per 1M training tokens (OpenAI's price page; prices change, so costs are estimates).
TRAINING_PRICES_PER_M: dict[str, float] = {
    "gpt-3.5-turbo": 8.00,
    "gpt-4o-mini": 3.00,  # gpt-4o-mini-2024-07-18
    "gpt-4o": 25.00,  # gpt-4o-2024-08-06
    "gpt-4.1-mini": 5.00,
    "gpt-4.1": 25.00,
}

# The guide's default-epochs heuristic.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


@dataclass(frozen=True)
class Distribution:
    """The guide's summary of a per-example quantity (p10/p90 via numpy quantiles)."""

    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float

    @classmethod
    def of(cls, values: Sequence[int]) -> Distribution | None:
        if not values:
            return None
        a = np.asarray(values)
        stats = (np.mean(a), np.median(a), np.quantile(a, 0.1), np.quantile(a, 0.9))
        return cls(int(a.min()), int(a.max()), *(float(x) for x in stats))

    def to_text(self) -> str:
        return (
            f"min {self.min}, max {self.max}, mean {self.mean:g}, "
            f"median {self.median:g}, p10 {self.p10:g}, p90 {self.p90:g}"
        )


def _lookup(table: Mapping[str, Any], model: str | None) -> Any:
    name = base_model(model)
    if name is None:
        return None
    matches = [key for key in table if name.startswith(key)]
    return table[max(matches, key=len)] if matches else None


def token_limit(model: str | None) -> int:
    """Tokens per example the model trains on; longer examples are truncated."""
    limit = _lookup(TOKEN_LIMITS, model)
    return DEFAULT_TOKEN_LIMIT if limit is None else int(limit)


def training_price(model: str | None) -> float | None:
    """USD per 1M training tokens; 0 for local models, None when unknown."""
    if is_local(model):
        return 0.0
    price = _lookup(TRAINING_PRICES_PER_M, model)
    return None if price is None else float(price)


def default_epochs(n_examples: int) -> int:
    """Epochs OpenAI picks by default for a file of this size, as the guide computes it."""
    if n_examples <= 0:
        return 0  # the guide divides by zero; an empty file trains for nothing
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS
