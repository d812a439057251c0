"""How a LoRA adapter is trained (``LoraConfig``), and the choices made from the model and
machine when the config leaves them open: which modules to adapt, which precision."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from harness.errors import FinetuneError

__all__ = [
    "LoraConfig",
    "Precision",
    "device",
    "lora_targets",
    "mixed_precision",
    "training_threads",
]

Precision = Literal["auto", "fp32", "bf16", "fp16"]


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
    gradient_accumulation: int = 1
    max_length: int = 512
    packing: bool = False
    gradient_checkpointing: bool = False
    precision: Precision = "auto"
    seed: int = 0
    target_modules: tuple[str, ...] | None = None  # None: the architecture's attention
    qlora: bool = False
    eval_fraction: float = 0.0  # chat mode: share of examples held out for eval loss
    early_stopping: int | None = None  # stop after this many epochs without a better eval loss


def lora_targets(model: Any) -> list[str]:
    """The attention projections of ``model``'s architecture (``q_proj``, ``k_proj``,
    ``v_proj``, ``o_proj`` on Llama, Qwen, Mistral, Gemma; ``query_key_value`` and
    ``dense`` on GPT-NeoX; ``c_attn``/``c_proj`` on GPT-2), found from its modules; every
    linear layer but the output head when no attention block is recognised."""
    names: list[str] = []
    for path, module in model.named_modules():
        parts = path.split(".")
        if len(parts) < 2 or not any("attn" in p or "attention" in p for p in parts[:-1]):
            continue
        if type(module).__name__ in {"Linear", "Conv1D"} and parts[-1] not in names:
            names.append(parts[-1])
    return names or ["all-linear"]


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def mixed_precision(precision: Precision, device: str) -> tuple[bool, bool]:
    """(bf16, fp16) for the trainer; auto is bf16 on a GPU that has it, else float32."""
    import torch

    if precision == "auto":
        return device == "cuda" and torch.cuda.is_bf16_supported(), False
    if precision == "fp16" and device != "cuda":
        raise FinetuneError("precision fp16 needs a CUDA GPU; on the CPU use fp32 or bf16")
    return precision == "bf16", precision == "fp16"


@contextmanager
def training_threads(where: str) -> Iterator[None]:
    """Torch's CPU threads while training on the CPU: ``$HARNESS_TORCH_THREADS``, else the
    idle cores shared among the processes (as the inference engine chooses them; more
    threads than free cores make every step wait on the slowest), restored afterwards
    because the setting is process-wide."""
    if where != "cpu":
        yield
        return
    import torch

    from harness.models._local_setup import _resolve_threads

    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, _resolve_threads(None) // processes))
    try:
        yield
    finally:
        torch.set_num_threads(before)
