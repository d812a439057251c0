"""Training data from the few-shot pool, in the exact format the prompt uses at inference.

OpenAI's guidance (and common sense): train with the same system prompt and user template
you will query with. So each pool item becomes one chat example: the chosen prompt's
system and user turns rendered for that item (zero-shot form: ``examples`` is empty in
inline style) and its answer as the assistant turn. Test cases never leak into training:
pool items whose ``match_on`` text equals a test case's are removed and reported.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import FinetuneError
from harness.experiment import Experiment, PoolItem
from harness.render import render_messages
from harness.shots.selectors import normalise_text

__all__ = ["PreparedData", "prepare_training_data", "write_jsonl"]


@dataclass(frozen=True)
class PreparedData:
    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    removed: list[str]  # pool ids dropped because a test case matches them
    prompt: str


def example_for(exp: Experiment, prompt_id: str, item: PoolItem) -> dict[str, Any]:
    messages = render_messages(
        exp.prompt(prompt_id), item.vars, (), style=exp.spec.style, experiment=exp
    )
    chat = [m.to_dict() for m in messages]
    chat.append({"role": "assistant", "content": exp.answer_for(item)})
    return {"messages": chat}


def prepare_training_data(
    exp: Experiment,
    prompt_id: str | None = None,
    *,
    validation_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
) -> PreparedData:
    """The pool as chat examples for ``prompt_id``, split into train and validation."""
    if exp.spec.examples is None or not exp.pool:
        raise FinetuneError(f"{exp.display}: no `examples:` pool to train on")
    prompt_id = prompt_id or exp.prompts[0].id
    if prompt_id not in {p.id for p in exp.prompts}:
        known = ", ".join(p.id for p in exp.prompts)
        raise FinetuneError(f"no prompt {prompt_id!r} in {exp.display} (prompts: {known})")
    field = exp.spec.examples.match_on
    tests = {normalise_text(c.vars[field]) for c in exp.cases if field in c.vars}
    kept, removed = [], []
    for item in exp.pool:
        if normalise_text(item.vars.get(field, "")) in tests:
            removed.append(item.id)
        else:
            kept.append(item)
    order = list(range(len(kept)))
    random.Random(seed).shuffle(order)
    if limit is not None:
        order = order[:limit]
    n_val = int(round(len(order) * validation_fraction)) if len(order) >= 10 else 0
    examples = [example_for(exp, prompt_id, kept[i]) for i in order]
    return PreparedData(examples[n_val:], examples[:n_val], removed, prompt_id)


def write_jsonl(path: Path, examples: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for example in examples:
            f.write(json.dumps(example, ensure_ascii=False) + "\n")
