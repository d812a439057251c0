"""A PEFT LoRA adapter written as a llama.cpp GGUF LoRA adapter (``--format gguf``).

This does what llama.cpp's ``convert_lora_to_gguf.py`` does for the architectures below,
without llama.cpp's source: the metadata ``general.type = "adapter"``, ``adapter.type =
"lora"`` and ``adapter.lora.alpha``; for each adapted linear layer the tensors ``<gguf
name>.lora_a`` (rank x in) and ``<gguf name>.lora_b`` (out x rank) in float32, the GGUF
names taken from the ``gguf`` package's tensor name map for the architecture. llama.cpp's
``llama`` architecture expects the q and k projections permuted the way
``convert_hf_to_gguf.py`` permutes them (its rotary embedding pairs neighbouring rows where
Hugging Face pairs the two halves of each head); a LoRA update ``B @ A`` of such a weight
is permuted by permuting the rows of ``B``, so that is what is done to ``lora_b``.

Supported base architectures (``architectures[0]`` of the base model's ``config.json``):

- ``LlamaForCausalLM`` and ``MistralForCausalLM`` (GGUF ``llama``; q/k ``lora_b`` permuted):
  SmolLM2, the embedded model, is one;
- ``Qwen2ForCausalLM`` and ``Qwen3ForCausalLM`` (GGUF ``qwen2``/``qwen3``; no permutation,
  as ``convert_hf_to_gguf.py`` does none for them).

Any other architecture is refused, as are adapters llama.cpp would apply differently from
PEFT (DoRA, rsLoRA, per-module rank or alpha) and adapters of layers the tensor map does not
name (embeddings, the output head).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import FinetuneError

__all__ = ["SUPPORTED_ARCHITECTURES", "GgufLora", "permute_qk", "write_gguf_lora"]

#: Hugging Face architecture -> (GGUF architecture, whether q/k are permuted).
SUPPORTED_ARCHITECTURES: dict[str, tuple[str, bool]] = {
    "LlamaForCausalLM": ("LLAMA", True),
    "MistralForCausalLM": ("LLAMA", True),
    "Qwen2ForCausalLM": ("QWEN2", False),
    "Qwen3ForCausalLM": ("QWEN3", False),
}
_PEFT_PREFIX = "base_model.model."


@dataclass(frozen=True)
class GgufLora:
    """What :func:`write_gguf_lora` wrote."""

    path: Path
    architecture: str  # the GGUF architecture name, e.g. "llama"
    alpha: float
    rank: int
    tensors: int  # lora_a and lora_b tensors together


def permute_qk(rows: Any, n_head: int, n_head_kv: int | None) -> Any:
    """``convert_hf_to_gguf.py``'s q/k permutation, applied to the rows of ``rows``
    (a weight, or the ``lora_b`` of a LoRA update of it): within each head, the rows of
    the two halves are interleaved."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    shape = rows.shape
    return (
        rows.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)
    )


def write_gguf_lora(adapter: Path, base_config: Path, out: Path, *, name: str) -> GgufLora:
    """Write the PEFT adapter folder ``adapter`` (``adapter_config.json`` and
    ``adapter_model.safetensors``) as the GGUF LoRA adapter ``out``, for the base model whose
    Hugging Face ``config.json`` is ``base_config``."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    hparams: dict[str, Any] = json.loads(base_config.read_text("utf-8"))
    hparams = {**hparams, **hparams.get("text_config", {})}
    architectures = hparams.get("architectures") or ["(none)"]
    hf_arch = str(architectures[0])
    if hf_arch not in SUPPORTED_ARCHITECTURES:
        raise FinetuneError(
            f"--format gguf does not support the base architecture {hf_arch} "
            f"(from {base_config}); supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    arch_key, permuted = SUPPORTED_ARCHITECTURES[hf_arch]
    arch = gguf.MODEL_ARCH[arch_key]
    lora = json.loads((adapter / "adapter_config.json").read_text("utf-8"))
    unsupported = [
        what
        for what, present in (
            ("DoRA", lora.get("use_dora")),
            ("rsLoRA", lora.get("use_rslora")),
            ("per-module ranks", lora.get("rank_pattern")),
            ("per-module alphas", lora.get("alpha_pattern")),
        )
        if present
    ]
    if unsupported:
        raise FinetuneError(
            f"--format gguf cannot write an adapter with {', '.join(unsupported)}: "
            "llama.cpp applies a LoRA update as alpha / rank * B @ A"
        )
    alpha = float(lora["lora_alpha"])
    n_blocks = int(hparams["num_hidden_layers"])
    n_head = int(hparams["num_attention_heads"])
    n_head_kv = int(hparams.get("num_key_value_heads") or n_head)
    names = gguf.get_tensor_name_map(arch, n_blocks)

    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in load_file(str(adapter / "adapter_model.safetensors")).items():
        base_name = key.removeprefix(_PEFT_PREFIX)
        for part in ("A", "B"):
            suffix = f".lora_{part}.weight"
            if base_name.endswith(suffix):
                module = base_name.removesuffix(suffix)
                pairs.setdefault(module, {})[part] = tensor.float().numpy()
                break
        else:
            raise FinetuneError(
                f"{adapter}: tensor {key} is not a LoRA A or B matrix; --format gguf writes "
                "adapters of linear layers only"
            )
    if not pairs:
        raise FinetuneError(f"{adapter}: the adapter has no LoRA tensors")

    rank = 0
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for module in sorted(pairs):
        pair = pairs[module]
        if set(pair) != {"A", "B"}:
            raise FinetuneError(f"{adapter}: {module} has lora_{''.join(pair)} only")
        gguf_name = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if gguf_name is None:
            raise FinetuneError(
                f"{adapter}: the {gguf.MODEL_ARCH_NAMES[arch]} tensor map has no name for "
                f"{module}; --format gguf writes adapters of the transformer blocks' linear "
                "layers only"
            )
        a, b = pair["A"], pair["B"]
        if permuted and module.endswith("q_proj"):
            b = permute_qk(b, n_head, n_head)
        elif permuted and module.endswith("k_proj"):
            b = permute_qk(b, n_head, n_head_kv)
        rank = int(a.shape[0])
        writer.add_tensor(gguf_name + ".lora_a", np.ascontiguousarray(a, dtype=np.float32))
        writer.add_tensor(gguf_name + ".lora_b", np.ascontiguousarray(b, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return GgufLora(out, gguf.MODEL_ARCH_NAMES[arch], alpha, rank, 2 * len(pairs))
