"""Tokens per second of the local engine: one prompt at a time against batches.

    python benchmarks/local_tokens_per_s.py                      # embedded SmolLM2, 1 thread
    python benchmarks/local_tokens_per_s.py --threads 1,2        # both thread counts, one run
    python benchmarks/local_tokens_per_s.py --random-weights --device cuda
    python benchmarks/local_tokens_per_s.py --random-weights --tokenizer-dir .harness/models/X

Sixteen date-normalisation prompts (greedy, ``--max-tokens`` new tokens at most) are
generated one at a time and then in batches of each ``--batch-sizes`` entry, in the same
process; the report gives completion tokens per second, the ratio to one-at-a-time and
whether the batched texts equal the one-at-a-time texts.

``--random-weights`` builds SmolLM2-135M's architecture (its config is written out below,
so the 98 MB model file need not travel) with random weights, for machines without the
model file such as a GPU box.  Its tokenizer comes from ``--tokenizer-dir`` (any directory
holding a saved tokenizer, e.g. the converted copy under ``.harness/models``), else from a
byte-level stub with the ChatML template: prompts are then about four times as many tokens.
Random weights rarely emit end-of-sequence, so every prompt runs to ``--max-tokens``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.models._local_engine import (  # noqa: E402
    EMBEDDED_MODEL,
    Generation,
    LocalEngine,
)

SYSTEM = "Convert the date to ISO 8601 (YYYY-MM-DD). Reply with the date only."
DATES = [
    "4/17/2015 (US)",
    "August 27, 1976",
    "December 8, 2023",
    "Sept. 20 1977",
    "27th May 1967",
    "the 17th of February 2003",
    "17.08.2014 (day first)",
    "Aug. 17 1960",
    "March 3rd, 1999",
    "2001/11/05",
    "1 January 2000",
    "Jul 4 1976",
    "the second of October, 1985",
    "12/25/2010 (US)",
    "30.06.1991 (day first)",
    "Feb 29, 2024",
]

# config.json of SmolLM2-135M-Instruct as converted from the embedded GGUF.
SMOLLM2_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 2,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 576,
    "initializer_range": 0.02,
    "intermediate_size": 1536,
    "max_position_embeddings": 8192,
    "mlp_bias": False,
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "rms_norm_eps": 1e-05,
    "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"},
    "tie_word_embeddings": True,
    "vocab_size": 49152,
}

CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
    "Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def conversations() -> list[list[dict[str, str]]]:
    return [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": d}] for d in DATES]


def byte_tokenizer(directory: Path) -> None:
    """Save a byte-level stub tokenizer (256 bytes + ChatML specials) into ``directory``."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    fast: Any = transformers.PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    for symbol in sorted(alphabet):
        vocab[symbol] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = fast(
        tokenizer_object=core,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]}
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(directory)


def random_weights_dir(scratch: Path, tokenizer_dir: Path | None, seed: int) -> Path:
    """Save a randomly initialised SmolLM2-135M (and a tokenizer) into ``scratch``."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    import transformers

    auto_model: Any = transformers.AutoModelForCausalLM

    torch.manual_seed(seed)
    fields = dict(SMOLLM2_CONFIG)
    model_type = fields.pop("model_type")
    config = transformers.AutoConfig.for_model(model_type, **fields)
    model = auto_model.from_config(config)
    model.save_pretrained(scratch)
    if tokenizer_dir is not None:
        transformers.AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(scratch)
    else:
        byte_tokenizer(scratch)
    return scratch


def timed(engine: LocalEngine, batch_size: int, max_tokens: int) -> tuple[float, list[Generation]]:
    convs = conversations()
    started = time.perf_counter()
    out = engine.generate(convs, max_tokens=max_tokens, batch_size=batch_size)
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=EMBEDDED_MODEL, help="engine model (default smollm2)")
    parser.add_argument("--threads", default="1", help="torch threads, comma list (e.g. 1,2)")
    parser.add_argument("--batch-sizes", default="8,16", help="batch sizes to compare with 1")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--tokenizer-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if int(b) > 1]

    with tempfile.TemporaryDirectory(prefix="local-bench-") as scratch:
        model = args.model
        if args.random_weights:
            model = str(random_weights_dir(Path(scratch), args.tokenizer_dir, seed=0))
        started = time.perf_counter()
        engine = LocalEngine(model, device=args.device, dtype=args.dtype, threads=threads[0])
        info = engine.load_info
        print(
            f"model {args.model}{' (random weights)' if args.random_weights else ''} "
            f"on {info.device}/{info.dtype}: loaded in {time.perf_counter() - started:.1f} s"
            + (f" (GGUF conversion {info.conversion_seconds:.1f} s)" if info.converted else "")
        )
        prompt_tokens = [engine.count_tokens(c) for c in conversations()]
        print(
            f"{len(DATES)} prompts, {min(prompt_tokens)}-{max(prompt_tokens)} prompt tokens, "
            f"max {args.max_tokens} new tokens, greedy"
        )
        engine.generate(conversations()[:2], max_tokens=4, batch_size=2)  # warm-up

        results: list[dict[str, Any]] = []
        for n in threads:
            engine.set_threads(n)
            seconds, reference = timed(engine, 1, args.max_tokens)
            tokens = sum(g.completion_tokens for g in reference)
            single = tokens / seconds
            row: dict[str, Any] = {"threads": n, "batch": 1, "tokens": tokens}
            row.update(seconds=round(seconds, 2), tokens_per_s=round(single, 1), ratio=1.0)
            results.append(row)
            print(f"threads {n}  batch  1: {tokens:4d} tokens {seconds:6.2f} s {single:7.1f} tok/s")
            for size in batch_sizes:
                seconds, out = timed(engine, size, args.max_tokens)
                tokens = sum(g.completion_tokens for g in out)
                rate = tokens / seconds
                differ = sum(a.text != b.text for a, b in zip(reference, out, strict=True))
                results.append(
                    {
                        "threads": n,
                        "batch": size,
                        "tokens": tokens,
                        "seconds": round(seconds, 2),
                        "tokens_per_s": round(rate, 1),
                        "ratio": round(rate / single, 2),
                        "texts_differing_from_batch_1": differ,
                    }
                )
                print(
                    f"threads {n}  batch {size:2d}: {tokens:4d} tokens {seconds:6.2f} s "
                    f"{rate:7.1f} tok/s  x{rate / single:.2f} vs batch 1, "
                    f"{differ} of {len(out)} texts differ from batch 1"
                )
        if not args.random_weights:
            print("sample:", " | ".join(repr(g.text) for g in reference[:4]))
        if args.json is not None:
            payload = {"load": info.__dict__, "results": results}
            args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
