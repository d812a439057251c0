"""Token prices, kept as data (``prices.json``) and overridable per model in the experiment."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from harness.experiment.schema import ModelSpec

__all__ = ["Price", "price_for"]


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens; ``None`` when unknown."""

    input: float
    output: float

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float:
        return ((prompt_tokens or 0) * self.input + (completion_tokens or 0) * self.output) / 1e6


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, float]]:
    text = resources.files("harness.models").joinpath("prices.json").read_text("utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def price_for(spec: ModelSpec) -> Price | None:
    """The model's price: the experiment's override, else the table (exact id, then globs)."""
    if spec.price is not None:
        return Price(float(spec.price.get("input", 0.0)), float(spec.price.get("output", 0.0)))
    table = _table()
    entry = table.get(spec.id)
    if entry is None:
        entry = next((v for k, v in table.items() if fnmatch.fnmatchcase(spec.id, k)), None)
    if entry is None and spec.id.startswith("openai:ft:"):  # fine-tuned: priced as its base
        base = spec.id.removeprefix("openai:ft:").split(":", 1)[0]
        entry = table.get(f"openai:{base}")
    return None if entry is None else Price(entry["input"], entry["output"])
