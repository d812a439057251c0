"""A second base architecture, with its own chat template, end to end: a tiny random Qwen2
(built here from the embedded SmolLM2 tokenizer, nothing downloaded) is trained through
``harness finetune train --base local:DIR``, evaluated in an experiment as ``local:DIR`` and
``local:DIR+ADAPTER``, and exported as ``peft``, ``merged`` and ``gguf``.

The template is not SmolLM2's ChatML: ``### Role:`` headers, the answer closed by the
tokenizer's end-of-sequence token, which is set to ``<|endoftext|>`` (SmolLM2's own is
``<|im_end|>``), so the test also shows that training learns, and generation stops on, the
end token the template writes. Every answer of the training data is the same word, which a
LoRA learns in a few CPU steps: the random base never says it, the adapter always does.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ANSWER = "blue"
SYSTEM = "Answer with one word."
EOS = "<|endoftext|>"
TEMPLATE = (
    "{% for m in messages %}### {{ m['role'] | capitalize }}:\n{{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)
N_LAYERS = 2
ADAPTER = "qwen-blue"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Trained:
    home: Path
    base: Path  # the Qwen2 folder
    train_output: str  # what `harness finetune train` printed


def _build_base(folder: Path) -> None:
    """A random-weight Qwen2 with the embedded SmolLM2 tokenizer and a template of its own."""
    import torch

    from harness._hf import import_offline, quiet
    from harness.models._local_setup import embedded_gguf_path

    transformers = import_offline("transformers")
    gguf = embedded_gguf_path()
    with quiet():
        # What convert_gguf does for the tokenizer, without converting the model's weights.
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.eos_token = EOS
    tokenizer.chat_template = TEMPLATE
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        # At the default 0.02 the frozen output head is so flat (logits within about 0.2 of
        # each other) that a LoRA on attention can only just tip the argmax, by hundredths
        # of a logit; at 0.1 a few steps give the answer a margin of 1.5 logits or more.
        initializer_range=0.1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with quiet():
        model = transformers.Qwen2ForCausalLM(config)
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))


def _examples(count: int) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"What colour is the sky in picture {i}?"},
                {"role": "assistant", "content": ANSWER},
            ]
        }
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The Qwen2 base, and the adapter ``qwen-blue`` trained on it with the CLI."""
    from harness._cli.main import main

    root = tmp_path_factory.mktemp("qwen2")
    base, home = root / "qwen2-tiny", root / "home"
    _build_base(base)
    data = root / "train.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in _examples(24)), "utf-8")
    args = ["finetune", "train", str(data), "--base", f"local:{base}", "--name", ADAPTER]
    args += ["--epochs", "3", "--lr", "2e-2", "--rank", "8", "--batch-size", "4"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([*args, "--home", str(home)])
    assert exit_info.value.code == 0, out.getvalue()
    return Trained(home, base, out.getvalue())


def _greedy(model: Any, tokenizer: Any, messages: list[dict[str, str]], steps: int = 6) -> str:
    """Greedy decoding with transformers alone, up to the tokenizer's end token."""
    import torch

    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    new: list[int] = []
    with torch.inference_mode():
        for _ in range(steps):
            logits = model(input_ids=torch.tensor([ids + new])).logits
            token = int(logits[0, -1].argmax())
            if token == tokenizer.eos_token_id:
                break
            new.append(token)
    return str(tokenizer.decode(new, skip_special_tokens=True))


def test_qwen2_adapter_trains_on_its_own_template_and_wins_the_experiment(
    trained: Trained, tmp_path: Path
) -> None:
    from harness import run
    from harness.errors import ExperimentError
    from harness.experiment import Trust
    from harness.finetune.lora import IGNORE, chat_features
    from harness.home import adapter_dir
    from harness.models._local_engine import load_engine

    assert f"local:{trained.base}+{ADAPTER}" in trained.train_output
    folder = adapter_dir(trained.home, ADAPTER)
    config = json.loads((folder / "adapter_config.json").read_text("utf-8"))
    targets = set(config["target_modules"])
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj"}  # found from Qwen2's modules
    meta = json.loads((folder / "harness.json").read_text("utf-8"))
    assert meta["base"] == str(trained.base)  # the `local:` prefix is not part of the base

    base_model, adapted = f"local:{trained.base}", f"local:{trained.base}+{ADAPTER}"
    cases = [
        {"id": f"c{i}", "input": f"What colour is the sky in picture {100 + i}?"} for i in range(6)
    ]
    experiment = tmp_path / "second-arch.yaml"
    experiment.write_text(
        json.dumps(  # JSON is YAML: no quoting surprises in the paths
            {
                "name": "second-architecture",
                "models": [base_model, adapted],
                "params": {"temperature": 0, "max_tokens": 4},
                "prompts": [{"id": "p", "system": SYSTEM, "user": "{{ input }}"}],
                "tests": {"items": cases, "assert": [{"equals": ANSWER}]},
            }
        ),
        "utf-8",
    )
    # the base is a folder outside the experiment's project: read only with the user's consent
    with pytest.raises(ExperimentError, match="--allow-outside-files"):
        run(experiment, home=trained.home, progress=False)
    result = run(experiment, home=trained.home, progress=False, trust=Trust(outside_files=True))
    assert not result.aborted
    by_model: dict[str, list[Any]] = {}
    for r in result.results:
        assert r.error is None, r.error
        by_model.setdefault(r.variant.split("/k0/", 1)[1], []).append(r)
    rate = {m: sum(bool(r.passed) for r in rs) / len(rs) for m, rs in by_model.items()}
    assert set(rate) == {base_model, adapted}
    assert rate[base_model] == 0.0, [r.output for r in by_model[base_model]]
    assert rate[adapted] == 1.0, [r.output for r in by_model[adapted]]
    # The adapter stopped on the template's end token: one word, then the end token.
    assert all(r.output == ANSWER and r.finish_reason == "stop" for r in by_model[adapted])
    assert all(r.completion_tokens == 2 for r in by_model[adapted])

    # The prompts went through the Qwen2 folder's own template, not SmolLM2's ChatML.
    engine = load_engine(f"{trained.base}+{ADAPTER}", home=trained.home)  # the run's engine
    prompt = engine.render(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"}]
    )
    assert prompt == "### System:\nAnswer with one word.\n### User:\nHi\n### Assistant:\n"
    for r in by_model[adapted]:
        sent = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": cases[int(r.case[1:])]["input"]},
        ]
        assert r.prompt_tokens == engine.count_tokens(sent)
    base_engine = load_engine(str(trained.base), home=trained.home)
    assert type(base_engine._model).__name__ == "Qwen2ForCausalLM"
    modules = {name.rsplit(".", 1)[-1] for name, _ in base_engine._model.named_modules()}
    assert targets <= modules
    # What the loss is on, under this template: the answer and the tokenizer's end token.
    ids, labels = chat_features(base_engine._tokenizer, _examples(1)[0], 512)
    learned = [i for i, label in zip(ids, labels, strict=True) if label != IGNORE]
    assert base_engine._tokenizer.decode(learned) == f"{ANSWER}{EOS}\n"


def test_qwen2_adapter_exports_as_peft_merged_and_gguf(trained: Trained, tmp_path: Path) -> None:
    import gguf
    import numpy as np
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file

    from harness._cli.main import main
    from harness._hf import import_offline, quiet
    from harness.finetune.export import export_adapter
    from harness.models._local_engine import load_engine

    transformers = import_offline("transformers")
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What colour is the sky in picture 77?"},
    ]
    in_process = load_engine(f"{trained.base}+{ADAPTER}", home=trained.home)
    expected = in_process.generate([messages], max_tokens=6)[0].text
    assert expected == ANSWER

    # peft: the adapter folder, loaded by peft onto the base, answers as the harness does.
    peft_dir = export_adapter(ADAPTER, "peft", tmp_path / "peft", home=trained.home).path
    peft_config = json.loads((peft_dir / "adapter_config.json").read_text("utf-8"))
    assert peft_config["base_model_name_or_path"] == str(trained.base)
    with quiet():
        base = transformers.AutoModelForCausalLM.from_pretrained(
            str(trained.base), dtype=torch.float32
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(trained.base))
    with warnings.catch_warnings():  # peft calls a transformers API deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = PeftModel.from_pretrained(base, str(peft_dir)).eval()
    assert _greedy(peft_model, tokenizer, messages) == expected
    with peft_model.disable_adapter():
        assert _greedy(peft_model, tokenizer, messages) != ANSWER  # the base alone does not

    # merged: transformers alone, with the tokenizer (and its template) saved beside it.
    merged_dir = tmp_path / "merged"
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["finetune", "export", ADAPTER, "--format", "merged", "-o", str(merged_dir)]
            + ["--home", str(trained.home)]
        )
    assert exit_info.value.code == 0
    with quiet():
        merged = transformers.AutoModelForCausalLM.from_pretrained(
            str(merged_dir), dtype=torch.float32
        )
        merged_tokenizer = transformers.AutoTokenizer.from_pretrained(str(merged_dir))
    assert type(merged).__name__ == "Qwen2ForCausalLM"
    assert merged_tokenizer.eos_token == EOS and merged_tokenizer.chat_template == TEMPLATE
    assert _greedy(merged.eval(), merged_tokenizer, messages) == ANSWER

    # gguf: llama.cpp's LoRA adapter for the qwen2 architecture, q/k left unpermuted.
    exported = export_adapter(ADAPTER, "gguf", tmp_path / "gguf", home=trained.home)
    # a base without a GGUF file of its own: the user is told how llama.cpp converts it
    assert exported.base == "BASE.gguf" and exported.note is not None
    assert f"convert_hf_to_gguf.py {trained.base.resolve()} --outfile BASE.gguf" in exported.note
    reader = gguf.GGUFReader(exported.path)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.architecture"] == "qwen2"
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == peft_config["lora_alpha"]
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    names = {"attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj", "attn_output": "o_proj"}
    assert set(tensors) == {
        f"blk.{i}.{g}.weight.lora_{ab}" for i in range(N_LAYERS) for g in names for ab in "ab"
    }
    weights = load_file(str(peft_dir / "adapter_model.safetensors"))
    for i in range(N_LAYERS):
        for g, hf in names.items():
            key = f"base_model.model.model.layers.{i}.self_attn.{hf}.lora_"
            np.testing.assert_array_equal(
                tensors[f"blk.{i}.{g}.weight.lora_a"], weights[key + "A.weight"].numpy()
            )
            np.testing.assert_array_equal(
                tensors[f"blk.{i}.{g}.weight.lora_b"], weights[key + "B.weight"].numpy()
            )
