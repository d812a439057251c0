"""The transformers engine: one planned batch in, generated token ids out.

A batch (see :mod:`harness.models._batching`) shares ``prefix`` leading tokens.  Their
key/value cache is computed once (batch 1), kept while consecutive batches use the same
prefix, and copied to every row; each row then continues with its own tokens.  Rows are
right-aligned after the prefix with masked padding between, so a row reads
``prefix, pad.., own tokens`` and its position ids count only real tokens: the model sees
exactly the sequence it would see alone.  Greedy outputs equal those of one prompt at a
time up to float rounding (logit differences around 1e-5, as for any change of batch).

The decoding loop is ours, not ``generate()``: a row leaves the batch as soon as it ends
(end of sequence, a stop string, or ``max_tokens``), so one rambling row no longer keeps
fifteen finished ones computing, and only the last position's logits are ever computed.
Sampling divides the logits by the temperature and keeps the smallest set of tokens whose
probability reaches ``top_p`` (no top-k); it draws from torch's global RNG, which the
caller seeds (forked) per batch.

torch is imported inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Sampling", "TransformersEngine", "cache_of"]


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: greedy when ``temperature == 0``."""

    temperature: float = 0.0
    top_p: float | None = None


class TransformersEngine:
    """Runs planned batches on a loaded transformers causal LM (already on its device)."""

    def __init__(self, model: Any, *, device: str, pad_id: int, eos_ids: frozenset[int]) -> None:
        self._model = model
        self._device = device
        self._pad_id = pad_id
        self._eos_ids = eos_ids
        self._prefix: tuple[tuple[int, ...], Any] | None = None  # (tokens, cache) kept

    def forget_prefix(self) -> None:
        """Drop the kept prefix cache (its memory is freed)."""
        self._prefix = None

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        prefix: int,
        *,
        max_tokens: int,
        sampling: Sampling,
        ended: Callable[[list[int]], bool],
    ) -> list[list[int]]:
        """Token ids generated for each prompt; ``prompts[*][:prefix]`` are all equal.

        ``ended(tokens)`` says whether a row's generated tokens already contain a stop
        string; end of sequence and ``max_tokens`` are handled here.
        """
        import torch

        rows = len(prompts)
        with torch.inference_mode():
            cache = self._cache_for(tuple(prompts[0][:prefix]), rows)
            own = [list(p[prefix:]) for p in prompts]
            width = max(len(tokens) for tokens in own)
            ids = [[self._pad_id] * (width - len(t)) + t for t in own]
            mask = [[1] * prefix + [0] * (width - len(t)) + [1] * len(t) for t in own]
            positions = [
                [prefix] * (width - len(t)) + list(range(prefix, prefix + len(t))) for t in own
            ]
            device = self._device
            attention = torch.tensor(mask, dtype=torch.long, device=device)
            out = self._model(
                input_ids=torch.tensor(ids, dtype=torch.long, device=device),
                attention_mask=attention,
                position_ids=torch.tensor(positions, dtype=torch.long, device=device),
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            cache = cache_of(out)
            lengths = torch.tensor([prefix + len(t) for t in own], device=device)
            generated: list[list[int]] = [[] for _ in range(rows)]
            live = list(range(rows))  # batch row -> prompt index, for rows still going
            for step in range(max_tokens):
                chosen = _next_tokens(out.logits[:, -1, :], sampling).tolist()
                keep: list[int] = []
                for slot, (row, token) in enumerate(zip(live, chosen, strict=True)):
                    generated[row].append(int(token))
                    if not (
                        token in self._eos_ids or step + 1 >= max_tokens or ended(generated[row])
                    ):
                        keep.append(slot)
                if not keep:
                    break
                if len(keep) < len(live):
                    index = torch.tensor(keep, dtype=torch.long, device=device)
                    cache.batch_select_indices(index)
                    attention = attention[index]
                    lengths = lengths[index]
                    live = [live[slot] for slot in keep]
                    chosen = [chosen[slot] for slot in keep]
                attention = torch.cat([attention, attention.new_ones((len(live), 1))], dim=1)
                out = self._model(
                    input_ids=torch.tensor(chosen, dtype=torch.long, device=device)[:, None],
                    attention_mask=attention,
                    position_ids=lengths[:, None],
                    cache=cache,
                    use_cache=True,
                )
                cache = cache_of(out)
                lengths = lengths + 1
        return generated

    def _cache_for(self, prefix: tuple[int, ...], rows: int) -> Any:
        """A fresh cache holding ``prefix`` for each of ``rows`` rows (None without prefix)."""
        import copy

        import torch

        if not prefix:
            return None
        if self._prefix is None or self._prefix[0] != prefix:
            self._prefix = None  # free the old one before computing the new one
            out = self._model(
                input_ids=torch.tensor([list(prefix)], dtype=torch.long, device=self._device),
                use_cache=True,
                logits_to_keep=1,
            )
            self._prefix = (prefix, cache_of(out))
        cache = copy.deepcopy(self._prefix[1])
        if rows > 1:
            cache.batch_repeat_interleave(rows)
        return cache


def cache_of(output: Any) -> Any:
    """The key/value cache a forward pass returned (``cache`` in transformers 5)."""
    return output.cache if hasattr(output, "cache") else output["past_key_values"]


def _next_tokens(logits: Any, sampling: Sampling) -> Any:
    """The next token of each row: argmax, or a draw at the temperature within ``top_p``."""
    import torch

    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    scores = logits.float() / sampling.temperature
    top_p = 1.0 if sampling.top_p is None else sampling.top_p
    if top_p < 1.0:
        ordered, order = torch.sort(scores, descending=False)
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative <= (1 - top_p)
        drop[..., -1:] = False  # always keep the most likely token
        scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    probabilities = scores.softmax(dim=-1)
    return torch.multinomial(probabilities, num_samples=1).squeeze(1)
