"""Local LoRA fine-tuning with peft, on the CPU (or a CUDA GPU when present).

Chat mode trains on assistant tokens only. The model's pad token is its end-of-turn token,
so padding is masked by position, never by token id: masking ``<|im_end|>`` wherever it
appears would hide the end of every answer and the model would never learn to stop.
Text mode continues pre-training on plain domain text packed into blocks, and reports
held-out perplexity before and after.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import FinetuneError
from harness.finetune._step import IGNORE, TrainingBatch, batch_loss, make_batches
from harness.home import adapter_dir, adapter_meta_path, harness_home

__all__ = ["LoraConfig", "TrainedAdapter", "chat_features", "train_lora"]


@dataclass(frozen=True)
class LoraConfig:
    name: str
    base: str = "smollm2"
    mode: Literal["chat", "text"] = "chat"
    epochs: int = 3
    learning_rate: float = 1e-3
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    batch_size: int = 4
    max_length: int = 512
    seed: int = 0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    qlora: bool = False


@dataclass
class TrainedAdapter:
    name: str
    path: Path
    model_id: str
    steps: int
    seconds: float
    examples: int
    losses: list[float] = field(default_factory=list)
    perplexity_before: float | None = None
    perplexity_after: float | None = None
    device: str = "cpu"


def data_hash(texts: Sequence[str], config: LoraConfig) -> str:
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()[:16]


def nested_subsets(data: Path, sizes: Sequence[int]) -> list[tuple[int, Path]]:
    """Files of the first N examples for each size: nested, so each contains the smaller
    ones and the data-scaling curve measures more data, not different data."""
    lines = [line for line in data.read_text("utf-8").splitlines() if line.strip()]
    too_big = [n for n in sizes if n > len(lines)]
    if too_big:
        raise FinetuneError(f"{data}: sizes {too_big} exceed its {len(lines)} examples")
    out = []
    for size in sizes:
        subset = data.with_name(f"{data.stem}.n{size}{data.suffix}")
        subset.write_text("\n".join(lines[:size]) + "\n", "utf-8")
        out.append((size, subset))
    return out


def chat_features(
    tokenizer: Any, example: dict[str, Any], max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels for one chat example: loss only on assistant turns."""
    messages = example["messages"]
    ids: list[int] = []
    labels: list[int] = []
    for end, message in enumerate(messages, start=1):
        if message["role"] != "assistant":
            continue
        prefix = tokenizer.apply_chat_template(
            messages[: end - 1], tokenize=False, add_generation_prompt=True
        )
        full = tokenizer.apply_chat_template(messages[:end], tokenize=False)
        prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        if full_ids[: len(prefix_ids)] != prefix_ids:
            raise FinetuneError("the chat template does not extend the prompt with the answer")
        new_prompt = prefix_ids[len(ids) :]
        answer = full_ids[len(prefix_ids) :]
        ids = ids + new_prompt + answer
        labels = labels + [IGNORE] * len(new_prompt) + answer
    return ids[:max_length], labels[:max_length]


def _text_blocks(tokenizer: Any, text: str, block: int) -> list[tuple[list[int], list[int]]]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [
        (ids[i : i + block], ids[i : i + block])
        for i in range(0, len(ids) - 1, block)
        if len(ids[i : i + block]) > 1
    ]


def _perplexity(model: Any, batches: list[TrainingBatch], device: str) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            loss, tokens = batch_loss(model, batch.to(device))
            total += float(loss) * tokens
            count += tokens
    return math.exp(total / max(count, 1))


def train_lora(
    data: Path,
    config: LoraConfig,
    *,
    home: Path | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainedAdapter:
    """Train a LoRA adapter on ``data`` (chat JSONL or plain text) and save it by name."""
    from harness.models._local_engine import load_engine

    engine = load_engine(config.base, home=home)
    tokenizer, weights, device = engine._tokenizer, engine.load_info.weights_dir, engine.device
    text = data.read_text("utf-8")
    if config.mode == "chat":
        examples = [json.loads(line) for line in text.splitlines() if line.strip()]
        features = [chat_features(tokenizer, ex, config.max_length) for ex in examples]
        held_out: list[tuple[list[int], list[int]]] = []
    else:
        blocks = _text_blocks(tokenizer, text, config.max_length)
        cut = max(1, len(blocks) // 10)
        features, held_out = blocks[cut:], blocks[:cut]
        examples = []
    if not features:
        raise FinetuneError(f"{data}: no training examples")
    model = _trainable_model(weights, config, device)
    rng = random.Random(config.seed)
    pad = engine._pad_id
    eval_batches = (
        make_batches(held_out, config.batch_size, pad, random.Random(0)) if held_out else []
    )
    before = _perplexity(model, eval_batches, device) if eval_batches else None

    import torch

    torch.manual_seed(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(features) / config.batch_size)
    total = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / max(1, total // 10)) * max(0.0, 1 - step / total),
    )
    started = time.perf_counter()
    losses: list[float] = []
    step = 0
    model.train()
    for _ in range(config.epochs):
        for batch in make_batches(features, config.batch_size, pad, rng):
            loss, _ = batch_loss(model, batch.to(device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(step, total, losses[-1])
    seconds = time.perf_counter() - started
    after = _perplexity(model, eval_batches, device) if eval_batches else None
    root = harness_home(home)
    target = adapter_dir(root, config.name)
    with warnings.catch_warnings():  # peft calls a transformers API deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        model.save_pretrained(str(target))
    meta = {
        "base": config.base,
        "config": asdict(config),
        "data": str(data),
        "data_hash": data_hash([text], config),
        "steps": step,
        "seconds": seconds,
        "examples": len(features),
        "losses": losses,
        "device": device,
        "perplexity_before": before,
        "perplexity_after": after,
        "created": time.time(),
    }
    adapter_meta_path(root, config.name).write_text(json.dumps(meta, indent=2), "utf-8")
    return TrainedAdapter(
        config.name,
        target,
        f"local:{config.base}+{config.name}",
        step,
        seconds,
        len(features),
        losses,
        before,
        after,
        device,
    )


def _trainable_model(weights: str, config: LoraConfig, device: str) -> Any:
    import torch
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    from harness._hf import import_offline, quiet

    transformers = import_offline("transformers")

    kwargs: dict[str, Any] = {}
    if config.qlora:
        if not device.startswith("cuda"):
            raise FinetuneError(
                "--qlora needs a CUDA GPU (4-bit bitsandbytes kernels); "
                "none is present here: use plain LoRA"
            )
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4"
        )
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with quiet():
        model = transformers.AutoModelForCausalLM.from_pretrained(weights, dtype=dtype, **kwargs)
    if not config.qlora:
        model.to(device)
    peft_config = PeftLoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():  # peft calls a transformers API deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, peft_config)
