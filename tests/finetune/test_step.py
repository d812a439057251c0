"""A training step that shares the prompt prefix and computes logits only where a label is
must give the loss and gradients of the plain full-batch step."""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest

from harness.finetune._step import IGNORE, Feature, batch_loss, make_batches


def _feature(prefix: list[int], own: list[int], answer: list[int]) -> Feature:
    ids = prefix + own + answer
    return ids, [IGNORE] * (len(prefix) + len(own)) + answer


def test_batches_rebuild_every_sequence_from_the_shared_prefix() -> None:
    pytest.importorskip("torch")
    features = [_feature([1, 2, 3, 4], [10 + i] * (i + 1), [90 + i, 2]) for i in range(7)]
    seen = []
    for batch in make_batches(features, 3, pad=2, rng=random.Random(0)):
        prefix = batch.prefix.tolist()
        assert prefix == ([1, 2, 3, 4] if len(batch.input_ids) > 1 else [])
        for ids, labels, mask in zip(
            batch.input_ids.tolist(),
            batch.labels.tolist(),
            batch.attention_mask.tolist(),
            strict=True,
        ):
            real = sum(mask)
            assert mask == [1] * real + [0] * (len(mask) - real)  # padding on the right
            assert labels[real:] == [IGNORE] * (len(mask) - real)  # masked by position
            seen.append((prefix + ids[:real], [IGNORE] * len(prefix) + labels[:real]))
    assert sorted(seen) == sorted(features)


def test_the_prefix_stops_before_the_first_label_and_needs_two_rows() -> None:
    pytest.importorskip("torch")
    # the answer starts right after the shared part: the token before it must stay in the row
    early = [_feature([1, 2, 3], [], [7, 2]), _feature([1, 2, 3], [], [8, 2])]
    (batch,) = make_batches(early, 2, pad=2, rng=random.Random(0))
    assert batch.prefix.tolist() == [1, 2]
    # different first tokens share nothing; a single row gains nothing from a prefix
    apart = [_feature([1, 2], [5], [7]), _feature([3, 2], [5], [7])]
    assert make_batches(apart, 2, pad=2, rng=random.Random(0))[0].prefix.tolist() == []
    (alone,) = make_batches(apart[:1], 4, pad=2, rng=random.Random(0))
    assert alone.prefix.tolist() == []


def _plain_loss(model: Any, features: list[Feature], pad: int) -> Any:
    import torch

    width = max(len(ids) for ids, _ in features)
    ids = [f[0] + [pad] * (width - len(f[0])) for f in features]
    labels = [f[1] + [IGNORE] * (width - len(f[1])) for f in features]
    mask = [[1] * len(f[0]) + [0] * (width - len(f[0])) for f in features]
    return model(
        input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), labels=torch.tensor(labels)
    ).loss


@pytest.mark.slow
def test_shared_prefix_step_equals_the_plain_step_on_the_real_model() -> None:
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    from harness.experiment import load_experiment
    from harness.finetune.lora import chat_features
    from harness.finetune.prepare import prepare_training_data
    from harness.models._local_engine import load_engine
    from tests.conftest import EXPERIMENTS

    engine = load_engine("smollm2")
    exp = load_experiment(EXPERIMENTS / "date_finetune.yaml")
    examples = prepare_training_data(exp, "terse", validation_fraction=0.0).train[:4]
    features = [chat_features(engine._tokenizer, ex, 512) for ex in examples]
    base = transformers.AutoModelForCausalLM.from_pretrained(
        engine.load_info.weights_dir, dtype=torch.float32
    )
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    with warnings.catch_warnings():  # peft calls a transformers API deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules=targets))
    torch.manual_seed(0)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # B starts at zero, which would hide errors in A's gradient
            torch.nn.init.normal_(param, std=0.02)
    model.train()
    (batch,) = make_batches(features, 4, engine._pad_id, random.Random(0))
    assert len(batch.prefix) > 20  # the chat template's start and the system message

    def grads(loss: Any) -> dict[str, Any]:
        model.zero_grad()
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    order = [features[i] for i in _order(len(features))]
    plain = _plain_loss(model, order, engine._pad_id)
    shared, count = batch_loss(model, batch)
    assert count == sum(sum(label != IGNORE for label in f[1][1:]) for f in features)
    assert float(shared.detach()) == pytest.approx(float(plain.detach()), rel=1e-5)
    expected, got = grads(plain), grads(shared)
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-3, atol=1e-6, msg=name)


def _order(n: int) -> list[int]:
    order = list(range(n))
    random.Random(0).shuffle(order)
    return order
