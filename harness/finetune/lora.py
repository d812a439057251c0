"""Local LoRA fine-tuning with TRL's ``SFTTrainer`` and PEFT, on Hugging Face ``accelerate``.

One CPU, one GPU, or many under ``accelerate launch`` (see :mod:`harness.finetune.launch`):
the same call.  Chat data is prompt-completion, so the loss is on the answer only (the
last assistant message; earlier turns are context).  Text mode continues pre-training on
plain domain text cut into blocks and reports held-out perplexity before and after.

The base is any causal LM: ``smollm2`` (the embedded GGUF, converted once), a local
Hugging Face folder, or a hub id already in the user's own cache (nothing is downloaded).
LoRA goes on the attention projections the architecture has (:func:`lora_targets`)
unless ``target_modules`` names them.  Checkpoints are written each epoch beside the
adapter, so a killed training started again with the same data and settings resumes from
the last one; they are removed when training ends.  The adapter folder holds the PEFT
files, ``harness.json`` (how it was trained) and the loss curve (``loss.png``/``.svg``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.adapter_records import write_record
from harness.errors import FinetuneError
from harness.finetune._config import (
    LoraConfig,
    device,
    lora_targets,
    mixed_precision,
    training_threads,
)
from harness.finetune._step import IGNORE
from harness.home import adapter_dir, harness_home

__all__ = ["IGNORE", "LoraConfig", "TrainedAdapter", "chat_features", "lora_targets", "train_lora"]


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
    eval_losses: list[tuple[float, float]] = field(default_factory=list)  # (epoch, loss)
    resumed_from_step: int | None = None
    curve: list[Path] = field(default_factory=list)
    main_process: bool = True  # under accelerate launch: the process that saved it


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
        # written whole, then renamed: processes under accelerate launch all write it
        scratch = subset.with_name(f".{subset.name}.{os.getpid()}.tmp")
        scratch.write_text("\n".join(lines[:size]) + "\n", "utf-8")
        os.replace(scratch, subset)
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


def _chat_rows(data: Path) -> list[dict[str, Any]]:
    """Prompt-completion rows from chat JSONL: the last assistant message is the answer."""
    rows = []
    for number, line in enumerate(data.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
        except (ValueError, KeyError, TypeError):
            raise FinetuneError(
                f"{data}:{number}: not a chat example ({{'messages': [...]}})"
            ) from None
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise FinetuneError(f"{data}:{number}: messages must be a list of {{role, content}}")
        if not messages or messages[-1].get("role") != "assistant":
            raise FinetuneError(f"{data}:{number}: the last message must be the assistant's")
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return rows


def _text_rows(tokenizer: Any, text: str, block: int) -> list[dict[str, list[int]]]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [
        {"input_ids": ids[i : i + block], "labels": ids[i : i + block]}
        for i in range(0, len(ids) - 1, block)
        if len(ids[i : i + block]) > 1
    ]


def _with_absolute_base(config: LoraConfig) -> LoraConfig:
    """A base given as a relative folder or file, made absolute: the adapter's record
    (export, serving, ``local:BASE+NAME``) must find it from any working directory."""
    from harness.models._local_engine import EMBEDDED_MODEL

    path = Path(config.base).expanduser()
    if config.base == EMBEDDED_MODEL or path.is_absolute() or not path.exists():
        return config
    return replace(config, base=str(path.resolve()))


def _base_weights(base: str, home: Path | None) -> str:
    """The folder (or cached hub id) holding the base model's Hugging Face weights."""
    from harness.models._local_engine import EMBEDDED_MODEL, convert_gguf, embedded_gguf_path

    if base == EMBEDDED_MODEL:
        return str(convert_gguf(embedded_gguf_path(), home=home))
    if base.endswith(".gguf"):
        return str(convert_gguf(Path(base).expanduser(), home=home))
    if base.startswith(("/", "~", ".")) and not Path(base).expanduser().is_dir():
        raise FinetuneError(
            f"no model folder at {base}: the base is a Hugging Face model folder, a .gguf "
            "file, or a hub id already in your Hugging Face cache"
        )
    return base


def _load_model(weights: str, config: LoraConfig, device: str) -> tuple[Any, Any]:
    """The base model (4-bit for QLoRA) and its tokenizer, from local files only."""
    import torch

    from harness._hf import import_offline, quiet

    transformers = import_offline("transformers")
    kwargs: dict[str, Any] = {}
    if config.qlora:
        if device != "cuda":
            raise FinetuneError(
                "--qlora needs a CUDA GPU (4-bit bitsandbytes kernels); "
                "none is present here: use plain LoRA"
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise FinetuneError("--qlora needs bitsandbytes: pip install bitsandbytes") from None
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4"
        )
        # 4-bit weights are placed when loaded: each process's on its own GPU
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    # the weights in the precision training computes in: auto is bf16 only on a GPU that
    # has it (a T4 or V100 trains in float32), as mixed_precision decides for the trainer
    bf16, fp16 = mixed_precision(config.precision, device)
    dtype = torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32
    try:
        with quiet():
            tokenizer = transformers.AutoTokenizer.from_pretrained(weights)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                weights, dtype=dtype, **kwargs
            )
    except (OSError, ValueError) as error:
        raise FinetuneError(
            f"cannot load base model {weights!r} (offline: a hub id must already be in the "
            f"local Hugging Face cache): {error}"
        ) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _split_eval(
    rows: list[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if fraction <= 0:
        return rows, []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    cut = max(1, round(len(rows) * fraction))
    held = set(order[:cut])
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in sorted(held)]


def train_lora(
    data: Path,
    config: LoraConfig,
    *,
    home: Path | None = None,
    eval_data: Path | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
    on_eval: Callable[[float, float], None] | None = None,
) -> TrainedAdapter:
    """Train a LoRA adapter on ``data`` (chat JSONL or plain text) and save it by name.

    ``eval_data`` (chat JSONL) or ``config.eval_fraction`` (not both) gives an evaluation
    split: its loss is computed each epoch, reported through ``on_eval`` and drawn on the
    curve, and ``config.early_stopping`` stops on it.
    """
    from harness.finetune._session import TrainingSession

    adapter_dir(harness_home(home), config.name)  # a name, not a path: said before loading
    if "+" in config.base:
        raise FinetuneError(
            f"base {config.base!r}: a '+' would end the base in local:BASE+{config.name}; "
            "rename or link the model folder without it"
        )
    text = data.read_text("utf-8")
    if config.mode == "text" and (eval_data is not None or config.early_stopping):
        raise FinetuneError("text mode holds out its own blocks for perplexity; no eval split")
    if eval_data is not None and config.eval_fraction > 0:
        raise FinetuneError(
            "give eval_fraction or an eval file, not both: the held-out examples would be "
            "neither trained on nor evaluated"
        )
    if config.early_stopping and eval_data is None and config.eval_fraction <= 0:
        raise FinetuneError("early stopping needs an eval split: eval_fraction or an eval file")
    if config.mode == "chat":  # read before the model loads: a bad line is said at once
        rows = _chat_rows(data)
        train_rows, eval_rows = _split_eval(rows, config.eval_fraction, config.seed)
        if eval_data is not None:
            eval_rows = _chat_rows(eval_data)
    config = _with_absolute_base(config)
    weights = _base_weights(config.base, home)
    model, tokenizer = _load_model(weights, config, device())
    if config.mode == "text":
        blocks = _text_rows(tokenizer, text, config.max_length)
        cut = max(1, len(blocks) // 10)
        train_rows, eval_rows = blocks[cut:], blocks[:cut]
    if not train_rows:
        raise FinetuneError(f"{data}: no training examples")
    if config.early_stopping and not eval_rows:
        raise FinetuneError("early stopping needs an eval split: eval_fraction or an eval file")
    root = harness_home(home)
    extra = [eval_data.read_text("utf-8")] if eval_data is not None else []
    session = TrainingSession(
        config=config,
        model=model,
        tokenizer=tokenizer,
        train_rows=train_rows,
        eval_rows=eval_rows,
        checkpoints=adapter_dir(root, config.name).with_name(f".{config.name}.checkpoints"),
        fingerprint=data_hash([text, *extra], config),
    )
    started = time.perf_counter()
    with training_threads(device()):
        before = session.eval_loss() if config.mode == "text" else None
        outcome = session.train(on_step, on_eval)
        seconds = time.perf_counter() - started + outcome.seconds_before
        after = session.eval_loss() if config.mode == "text" else None
    target = adapter_dir(root, config.name)
    curve: list[Path] = []
    main = session.is_main_process
    if main:
        curve = _save(
            session, target, root, config, data, text, extra, seconds, outcome, before, after
        )
    session.finish()
    return TrainedAdapter(
        config.name,
        target,
        f"local:{config.base}+{config.name}",
        outcome.steps,
        seconds,
        len(train_rows),
        outcome.log.losses,
        math.exp(before) if before is not None else None,
        math.exp(after) if after is not None else None,
        outcome.device,
        outcome.log.evals,
        outcome.resumed_from_step,
        curve,
        main,
    )


def _save(
    session: Any,
    target: Path,
    root: Path,
    config: LoraConfig,
    data: Path,
    text: str,
    extra: list[str],
    seconds: float,
    outcome: Any,
    before: float | None,
    after: float | None,
) -> list[Path]:
    from harness.finetune.curve import save_loss_curve

    if target.exists():
        shutil.rmtree(target)
    with warnings.catch_warnings():  # peft calls a transformers API deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        session.save_adapter(target)
    curve = save_loss_curve(
        target,
        outcome.log.steps,
        outcome.log.evals,
        steps_per_epoch=outcome.steps_per_epoch,
        title=f"{config.name}: LoRA r={config.rank} on {Path(config.base).name}",
    )
    meta = {
        "base": config.base,
        "config": asdict(config),
        "data": str(data),
        "data_hash": data_hash([text, *extra], config),
        "trainer": "trl.SFTTrainer",
        "steps": outcome.steps,
        "seconds": seconds,
        "examples": len(session.train_rows),
        "eval_examples": len(session.eval_rows),
        "losses": outcome.log.losses,
        "eval_losses": [list(pair) for pair in outcome.log.evals],
        "stopped_early": outcome.stopped_early,
        "resumed_from_step": outcome.resumed_from_step,
        "device": outcome.device,
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "perplexity_before": math.exp(before) if before is not None else None,
        "perplexity_after": math.exp(after) if after is not None else None,
        "created": time.time(),
    }
    write_record(target, meta)
    return curve
