"""Token prices, kept as data (``prices.json``) and overridable per model in the experiment.

Also what a prompt will be billed as: OpenAI models' prompts are counted exactly with their
tiktoken encoding (offline, from ``bpe-openai``; see harness.models.tokens), others are
estimated at 4 characters a token. ``--max-cost`` reserves on these counts and calibrates
them against the tokens servers report, so an estimate only has to be cheap, not right.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "DEFAULT_CPU_HOUR_PRICE",
    "Price",
    "PromptCounter",
    "estimate_prompt_tokens",
    "price_for",
    "prompt_token_counter",
]

#: USD per hour of a CPU machine running a local model, when its model entry sets no
#: ``compute_price``: about the on-demand price of a 2-vCPU cloud VM with 4-8 GiB, the
#: size the embedded model's timings in the README come from (AWS c7i.large, Linux,
#: us-east-1: $0.0893/h in 2025), rounded up. ``harness decide`` multiplies the machine
#: seconds it measured per query, and an adapter's training seconds on a CPU, by it. GPUs
#: have no default: their price varies too much (set ``compute_price``).
DEFAULT_CPU_HOUR_PRICE = 0.10

#: Chat messages -> the prompt tokens they are billed as.
PromptCounter = Callable[[Iterable[Mapping[str, Any]]], int]


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens; ``None`` when unknown."""

    input: float
    output: float

    batch_input: float | None = None  # Batch API prices; None: half the normal ones
    batch_output: float | None = None

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float:
        return ((prompt_tokens or 0) * self.input + (completion_tokens or 0) * self.output) / 1e6

    def batch(self) -> Price:
        """The price of the same tokens sent through a Batch API (half, unless known)."""
        return Price(
            self.input / 2 if self.batch_input is None else self.batch_input,
            self.output / 2 if self.batch_output is None else self.batch_output,
        )


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, float]]:
    text = resources.files("harness.models").joinpath("prices.json").read_text("utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def price_for(model_id: str, override: Mapping[str, float] | None = None) -> Price | None:
    """The model's price: the experiment's ``override``, else the table (exact id, globs)."""
    if override is not None:
        return _price(override)
    table = _table()
    entry = table.get(model_id)
    if entry is None:
        entry = next((v for k, v in table.items() if fnmatch.fnmatchcase(model_id, k)), None)
    if entry is None and model_id.startswith("openai:ft:"):  # fine-tuned: priced as its base
        base = model_id.removeprefix("openai:ft:").split(":", 1)[0]
        entry = table.get(f"openai:{base}")
    return None if entry is None else _price(entry)


def _price(entry: Mapping[str, float]) -> Price:
    batch_in, batch_out = entry.get("batch_input"), entry.get("batch_output")
    return Price(
        float(entry.get("input", 0.0)),
        float(entry.get("output", 0.0)),
        None if batch_in is None else float(batch_in),
        None if batch_out is None else float(batch_out),
    )


def estimate_prompt_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """4 characters a token, plus OpenAI's 3 tokens a message and 3 for the reply primer."""
    chars = n = 0
    for message in messages:
        content = message.get("content")
        chars += len(content) if isinstance(content, str) else len(str(content or ""))
        n += 1
    return (chars + 3) // 4 + 3 * n + 3


def prompt_token_counter(model_id: str) -> tuple[PromptCounter, bool]:
    """(counter, exact): the model's tokenizer where known (``openai:``), else an estimate.

    Loading an encoding takes about a second, so only a run that needs counts (a budget, a
    dry run) should ask.
    """
    if model_id.startswith("openai:"):
        from harness.models.tokens import count_message_tokens, tokenizer_label

        if tokenizer_label(model_id) != "estimate":

            def count(messages: Iterable[Mapping[str, Any]]) -> int:
                return count_message_tokens(list(messages), model_id)[0]

            return count, True
    return estimate_prompt_tokens, False
