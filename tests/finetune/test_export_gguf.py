"""``--format gguf``: the adapter as llama.cpp's GGUF LoRA adapter, read back with the
``gguf`` package. The adapter is a real PEFT one, made (untrained, random B) on a tiny
Llama with grouped-query attention, so the test needs neither training nor llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import FinetuneError
from harness.home import adapter_dir, adapter_meta_path

N_LAYERS, HIDDEN, N_HEAD, N_HEAD_KV, RANK, ALPHA = 2, 64, 4, 2, 4, 8.0


def _make_adapter(home: Path, name: str, base: Path, architecture: str) -> dict[str, Any]:
    """A PEFT adapter ``name`` in ``home`` on a tiny random Llama whose config is ``base``;
    returns PEFT's own tensors by name."""
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    from harness._hf import import_offline, quiet

    transformers = import_offline("transformers")
    config = transformers.LlamaConfig(
        vocab_size=32,
        hidden_size=HIDDEN,
        intermediate_size=96,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=N_HEAD,
        num_key_value_heads=N_HEAD_KV,
    )
    torch.manual_seed(0)
    with quiet():
        model = transformers.LlamaForCausalLM(config)
        lora = LoraConfig(
            r=RANK,
            lora_alpha=int(ALPHA),
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
            init_lora_weights=False,  # random B too, so every matrix is checked for real
        )
        peft_model = get_peft_model(model, lora)
        folder = adapter_dir(home, name)
        peft_model.save_pretrained(str(folder))
        tensors = {k: v.float().numpy() for k, v in get_peft_model_state_dict(peft_model).items()}
    base.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(base))
    raw = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**raw, "architectures": [architecture]}))
    adapter_meta_path(home, name).write_text(json.dumps({"name": name, "base": str(base)}))
    return tensors


def _unpermute(b: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of convert_hf_to_gguf's q/k permutation, written out independently."""
    rows, rank = b.shape
    return b.reshape(n_head, rows // n_head // 2, 2, rank).swapaxes(1, 2).reshape(rows, rank)


def test_gguf_export_is_a_llama_cpp_lora_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gguf

    from harness.finetune.export import export_adapter
    from tests.conftest import run_cli

    home = tmp_path / "home"
    peft = _make_adapter(home, "tiny", tmp_path / "base", "LlamaForCausalLM")
    code, out, _ = run_cli(
        ["finetune", "export", "tiny", "--format", "gguf", "-o", str(tmp_path / "g")]
        + ["--home", str(home)],
        capsys,
    )
    assert code == 0, out
    path = tmp_path / "g" / "adapter.gguf"
    assert f"--lora_path {path.resolve()}" in out and "llama-server" in out
    assert json.loads((tmp_path / "g" / "harness.json").read_text())["format"] == "gguf"

    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.architecture"] == "llama"
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == ALPHA
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    modules = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj"}
    modules |= {"attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj"}
    modules |= {"ffn_down": "mlp.down_proj"}
    expected = {
        f"blk.{i}.{g}.weight.lora_{ab}"
        for i in range(N_LAYERS)
        for g in modules
        for ab in ("a", "b")
    }
    assert set(tensors) == expected
    head_dim = HIDDEN // N_HEAD
    for i in range(N_LAYERS):
        for g, hf in modules.items():
            a = tensors[f"blk.{i}.{g}.weight.lora_a"]
            b = tensors[f"blk.{i}.{g}.weight.lora_b"]
            peft_a = peft[f"base_model.model.model.layers.{i}.{hf}.lora_A.weight"]
            peft_b = peft[f"base_model.model.model.layers.{i}.{hf}.lora_B.weight"]
            assert a.dtype == b.dtype == np.float32
            assert a.shape == peft_a.shape and a.shape[0] == RANK
            assert b.shape == peft_b.shape and b.shape[1] == RANK
            np.testing.assert_array_equal(a, peft_a)  # A is never permuted
            if g == "attn_q":
                assert b.shape == (N_HEAD * head_dim, RANK)
                assert not np.array_equal(b, peft_b)
                np.testing.assert_array_equal(_unpermute(b, N_HEAD), peft_b)
            elif g == "attn_k":
                assert b.shape == (N_HEAD_KV * head_dim, RANK)
                assert not np.array_equal(b, peft_b)
                np.testing.assert_array_equal(_unpermute(b, N_HEAD_KV), peft_b)
            else:
                np.testing.assert_array_equal(b, peft_b)

    # Qwen2 maps the same layers and permutes nothing.
    qwen_peft = _make_adapter(home, "qwen", tmp_path / "qbase", "Qwen2ForCausalLM")
    qwen = export_adapter("qwen", "gguf", tmp_path / "q", home=home)
    reader = gguf.GGUFReader(qwen.path)
    assert reader.fields["general.architecture"].contents() == "qwen2"
    q_b = {t.name: np.asarray(t.data) for t in reader.tensors}["blk.0.attn_q.weight.lora_b"]
    q_peft = qwen_peft["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    np.testing.assert_array_equal(q_b, q_peft)

    _make_adapter(home, "gpt", tmp_path / "gbase", "GPT2LMHeadModel")
    with pytest.raises(
        FinetuneError, match="does not support the base architecture GPT2LMHeadModel"
    ):
        export_adapter("gpt", "gguf", tmp_path / "x", home=home)
