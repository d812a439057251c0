"""One training step's batch and loss, computed without repeating work.

Chat examples written from one prompt all begin with the same tokens: the chat template's
start and the system message, often half of each example.  A batch computes that shared
prefix once (batch 1), repeats its key/value cache for every row, and continues each row
from it, so the forward and backward passes cover the prefix once instead of once per row;
gradients flow back through the repeated cache into the prefix's LoRA weights.  Logits are
computed only where a label is: the vocabulary projection is the largest single matrix of
a small model, and most positions (the prompt) carry no loss.  Both give the same loss and
gradients as the plain full-batch computation, up to float rounding (tested).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.models._batching import shared_prefix
from harness.models._engine_transformers import cache_of

__all__ = ["IGNORE", "TrainingBatch", "batch_loss", "collate", "make_batches"]

IGNORE = -100
Feature = tuple[list[int], list[int]]


@dataclass(frozen=True)
class TrainingBatch:
    """Rows that continue a shared ``prefix`` (possibly empty), padded on the right."""

    prefix: Any  # LongTensor (P,)
    input_ids: Any  # LongTensor (B, W)
    labels: Any  # LongTensor (B, W): IGNORE on padding, by position, never by token id
    attention_mask: Any  # LongTensor (B, W)

    def to(self, device: str) -> TrainingBatch:
        return TrainingBatch(
            self.prefix.to(device),
            self.input_ids.to(device),
            self.labels.to(device),
            self.attention_mask.to(device),
        )


def _prefix_length(chunk: list[Feature]) -> int:
    """Leading tokens every row shares and none is trained on, leaving each row at least
    one token: the position before the first label must be in the row's own part, since
    the prefix's forward pass computes no logits."""
    length = min(len(ids) for ids, _ in chunk) - 1
    for ids, labels in chunk:
        length = min(length, shared_prefix(chunk[0][0], ids))
        first_label = next((i for i, label in enumerate(labels) if label != IGNORE), len(ids))
        length = min(length, first_label - 1)
    return max(length, 0) if len(chunk) > 1 else 0


def make_batches(
    features: list[Feature], size: int, pad: int, rng: random.Random
) -> list[TrainingBatch]:
    """Shuffle ``features`` with ``rng`` and cut them into batches of ``size`` rows."""
    order = list(range(len(features)))
    rng.shuffle(order)
    return [
        collate([features[i] for i in order[start : start + size]], pad)
        for start in range(0, len(order), size)
    ]


def collate(chunk: list[Feature], pad: int) -> TrainingBatch:
    """One batch of rows: their shared prefix split off, the rest padded on the right."""
    import torch

    cut = _prefix_length(chunk)
    rows = [(ids[cut:], labels[cut:]) for ids, labels in chunk]
    width = max(len(ids) for ids, _ in rows)
    input_ids, labels, mask = [], [], []
    for ids, lab in rows:
        pad_n = width - len(ids)
        input_ids.append(ids + [pad] * pad_n)
        labels.append(lab + [IGNORE] * pad_n)
        mask.append([1] * len(ids) + [0] * pad_n)
    return TrainingBatch(
        torch.tensor(chunk[0][0][:cut], dtype=torch.long),
        torch.tensor(input_ids),
        torch.tensor(labels),
        torch.tensor(mask),
    )


def batch_loss(model: Any, batch: TrainingBatch) -> tuple[Any, int]:
    """Mean cross-entropy over the batch's labelled tokens, and how many there are.

    A token's label is predicted by the position before it; positions whose next token
    has a label in any row are the only ones whose logits are computed.
    """
    import torch

    rows, width = batch.input_ids.shape
    targets = torch.full_like(batch.labels, IGNORE)
    targets[:, :-1] = batch.labels[:, 1:]
    keep = (targets != IGNORE).any(dim=0).nonzero().flatten()
    count = int((targets != IGNORE).sum())
    if count == 0:
        return batch.input_ids.new_zeros((), dtype=torch.float32), 0
    cached = len(batch.prefix)
    kwargs: dict[str, Any] = {}
    if cached:
        head = model(input_ids=batch.prefix[None], use_cache=True, logits_to_keep=1)
        cache = cache_of(head)
        cache.batch_repeat_interleave(rows)
        kwargs["cache"] = cache
        prefix_mask = batch.attention_mask.new_ones((rows, cached))
        kwargs["attention_mask"] = torch.cat([prefix_mask, batch.attention_mask], dim=1)
        positions = torch.arange(cached, cached + width, device=batch.input_ids.device)
        kwargs["position_ids"] = positions[None].expand(rows, -1)
    else:
        kwargs["attention_mask"] = batch.attention_mask
    out = model(input_ids=batch.input_ids, logits_to_keep=keep, **kwargs)
    logits = out.logits.float()
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets[:, keep].reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss / count, count
