"""The llama.cpp route for real: the date adapter, exported with ``--format gguf`` and served
by llama-cpp-python's OpenAI-compatible server on the embedded GGUF, passes as many date
cases as the same adapter in-process (``local:smollm2+date-lora``), and clearly more than
the served base model, so a LoRA the server silently ignored would fail the test.

Needs ``pip install 'llama-cpp-python[server]'`` (it compiles llama.cpp: minutes); skipped
without it. Trains the adapter of ``experiments/date_finetune.yaml`` (about a minute on 2
cores) in a fresh home; prints the pass rates and wall times (``pytest -s`` shows them).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXPERIMENTS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("sse_starlette") is None,
        reason="llama-cpp-python[server] is not installed (pip install 'llama-cpp-python[server]')",
    ),
]

ADAPTER = "date-lora"
PROMPT = "Convert the date to ISO 8601 (YYYY-MM-DD). Reply with the date only."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _llama_server(config: dict[str, object], folder: Path) -> Iterator[str]:
    """llama-cpp-python's server with ``config`` (its --config_file); yields the base URL."""
    port = _free_port()
    path = folder / "llama_server.json"
    path.write_text(json.dumps({"host": "127.0.0.1", "port": port, **config}), "utf-8")
    log = (folder / "llama_server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--config_file", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                log.flush()
                pytest.fail(f"llama_cpp.server exited: {(folder / 'llama_server.log').read_text()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/models", timeout=2) as response,
            ):
                if response.status == 200:
                    break
            assert time.monotonic() < deadline, "llama_cpp.server did not start in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_the_gguf_adapter_served_by_llama_cpp_scores_as_in_process(tmp_path: Path) -> None:
    from harness import run
    from harness.experiment import load_experiment
    from harness.finetune.experiment import ensure_finetuned
    from harness.finetune.export import export_adapter
    from harness.models._local_setup import embedded_gguf_path
    from harness.stats import pass_rate

    home = tmp_path / "home"
    started = time.perf_counter()
    ensure_finetuned(load_experiment(EXPERIMENTS / "date_finetune.yaml"), home=home, log=print)
    train_s = time.perf_counter() - started
    exported = export_adapter(ADAPTER, "gguf", tmp_path / "gguf", home=home)
    assert exported.path.name == "adapter.gguf"
    base_gguf = str(embedded_gguf_path())
    assert exported.base == base_gguf and "--lora_path" in exported.serve

    shutil.copy(EXPERIMENTS / "data" / "date_tests.jsonl", tmp_path / "date_tests.jsonl")
    served = {"n_ctx": 1024, "n_threads": 2, "n_batch": 512, "verbose": False}
    config = {
        "models": [
            {"model": base_gguf, "model_alias": ADAPTER, "lora_path": str(exported.path)} | served,
            {"model": base_gguf, "model_alias": "smollm2-base"} | served,
        ]
    }
    rates = {}
    walls = {}
    with _llama_server(config, tmp_path) as url:
        experiment = tmp_path / "date.yaml"
        models = [
            f"local:smollm2+{ADAPTER}",
            "local:smollm2",
            f"openai:{ADAPTER}",
            "openai:smollm2-base",
        ]
        model_lines = "".join(
            f"  - id: {m}\n    base_url: {url}\n    api_key: sk-local\n"
            if m.startswith("openai:")
            else f"  - id: {m}\n"
            for m in models
        )
        experiment.write_text(
            f"name: llama-cpp-route\nmodels:\n{model_lines}"
            "params: {temperature: 0, max_tokens: 16}\n"
            f'prompts:\n  - id: terse\n    system: "{PROMPT}"\n    user: "{{{{ input }}}}"\n'
            "tests:\n  file: date_tests.jsonl\n"
            '  assert:\n    - equals: "{{ expected }}"\n',
            "utf-8",
        )
        for model in models:
            started = time.perf_counter()
            result = run(experiment, variants=f"*/{model}", home=home, progress=False)
            walls[model] = time.perf_counter() - started
            (variant,) = result.summary.variants
            outcome = result.variant(variant.variant.id)
            assert outcome.errors == 0, [r.error for r in outcome.results if r.error][:3]
            scores = {r.case: [1.0 if r.passed else 0.0] for r in outcome.results}
            rates[model] = pass_rate(scores)

    report = {
        m: f"{r.rate:.1%} [{r.low:.1%}, {r.high:.1%}] of {r.cases}, {walls[m]:.1f} s"
        for m, r in rates.items()
    }
    print(f"\ntrained {ADAPTER} in {train_s:.1f} s; " + json.dumps(report, indent=2))
    in_process, served_lora = rates[f"local:smollm2+{ADAPTER}"], rates[f"openai:{ADAPTER}"]
    in_process_base, served_base = rates["local:smollm2"], rates["openai:smollm2-base"]
    # The served adapter scores within the in-process adapter's 95% interval...
    assert in_process.low <= served_lora.rate <= in_process.high, report
    # ... and the adapter is really applied: the base scores clearly differently, in
    # process and served, each outside the adapter's interval.
    for base in (in_process_base, served_base):
        assert not served_lora.low <= base.rate <= served_lora.high, report
        assert not in_process.low <= base.rate <= in_process.high, report


def test_llama_cpp_applies_the_q_k_update_as_peft_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The q/k permutation, checked by llama.cpp itself: an adapter of q_proj and k_proj
    only, large enough to change the next token, gives llama.cpp's logits those of the
    merged model in transformers; written without the permutation, it does not."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from peft import LoraConfig, get_peft_model

    from harness._hf import import_offline, quiet
    from harness.finetune import _gguf_lora
    from harness.finetune.export import export_adapter
    from harness.home import adapter_dir, adapter_meta_path, harness_home
    from harness.models._local_setup import convert_gguf, embedded_gguf_path

    home = harness_home(tmp_path / "home")
    weights = convert_gguf(embedded_gguf_path(), home=home)
    transformers = import_offline("transformers")
    torch.manual_seed(0)
    with quiet(), torch.no_grad():
        model = transformers.AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
        tokenizer = transformers.AutoTokenizer.from_pretrained(weights)
        text = "The capital of France is Paris. The capital of Germany is Berlin. The capital of"
        ids = tokenizer(f"{text} Italy is")["input_ids"]
        base = model(torch.tensor([ids])).logits[0].numpy()
        config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj"])
        peft_model = get_peft_model(model, config)
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.15)
        peft_model.save_pretrained(str(adapter_dir(home, "qk")))
        merged = peft_model.merge_and_unload()(torch.tensor([ids])).logits[0].numpy()
    adapter_meta_path(home, "qk").write_text(json.dumps({"base": "smollm2"}), "utf-8")

    def served(gguf: Path) -> np.ndarray:
        llm = Llama(
            model_path=str(embedded_gguf_path()),
            lora_path=str(gguf),
            n_ctx=128,
            n_threads=2,
            logits_all=True,
            verbose=False,
        )
        llm.eval(ids)
        scores = np.array(llm.scores[: len(ids)])
        llm.close()
        return scores

    def agreement(a: np.ndarray, b: np.ndarray) -> float:
        """How often the next token is the same (quantisation moves near-ties)."""
        return float((a.argmax(-1) == b.argmax(-1)).mean())

    def correlation(a: np.ndarray, b: np.ndarray) -> float:
        """The mean over positions of the logits' correlation."""
        return float(np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b, strict=True)]))

    right = served(export_adapter("qk", "gguf", tmp_path / "right", home=home).path)
    monkeypatch.setitem(_gguf_lora.SUPPORTED_ARCHITECTURES, "LlamaForCausalLM", ("LLAMA", False))
    wrong = served(export_adapter("qk", "gguf", tmp_path / "wrong", home=home).path)
    found = {
        name: (agreement(logits, merged), correlation(logits, merged))
        for name, logits in [("base", base), ("llama.cpp", right), ("unpermuted", wrong)]
    }
    print("\nagainst the merged model (next token, logit correlation):", found)
    assert found["base"][1] < 0.95  # the adapter changes the logits a lot
    assert found["llama.cpp"][1] > 0.99 and found["llama.cpp"][0] >= 0.8
    assert found["unpermuted"][1] < 0.95 and found["unpermuted"][0] < 0.8
