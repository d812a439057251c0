"""LoRA and QLoRA training speed and memory: this tree's harness against the loop before TRL.

Each model is built from its architecture's config with random weights (seed 0) and saved
with ``save_pretrained`` into a scratch folder, so nothing is downloaded and no model file
has to travel to a GPU machine:

* ``smollm2``: SmolLM2-135M (LlamaConfig: hidden 576, intermediate 1536, 30 layers, 9
  heads, 3 key/value heads, vocabulary 49152, tied embeddings), 135M parameters.
* ``qwen0.5b``: Qwen2.5-0.5B (Qwen2Config: hidden 896, intermediate 4864, 24 layers, 14
  heads, 2 key/value heads, tied embeddings) with the vocabulary of the SmolLM2 tokenizer
  used here (49152, not Qwen's 151936): 402M parameters instead of 494M; the same layers,
  only the tied embedding is smaller (44M rather than 136M).
* ``tiny``: a 2-layer Llama (hidden 64) with the same vocabulary, for smoke runs on a CPU.

The tokenizer is the embedded SmolLM2's, saved into every model folder.  ``--tokenizer
DIR`` reads it from a folder; without it, it comes from the embedded GGUF through the
harness's conversion (``convert_gguf(embedded_gguf_path())``, cached in the harness home).
``--save-tokenizer DIR`` writes just the tokenizer files (about 4 MB) so they can be carried.

The training data is the date task's pool in chat format, rendered by the harness as
``harness finetune prepare experiments/date_finetune.yaml --prompt terse
--validation-fraction 0`` would (77 examples; ``harness decide`` trains on the same), or
read from ``--data FILE`` (``--save-data FILE`` writes it).

For each model and method (``lora``; ``qlora`` only with CUDA and bitsandbytes, else
skipped with the reason printed) two trainings of ``--epochs`` epochs run, each in a fresh
subprocess, so its peak memory is its own:

* ``now``: this tree's ``harness.finetune.lora.train_lora`` (TRL's ``SFTTrainer``, the
  prefix-sharing loss) with ``LoraConfig(base=FOLDER, ...)``.
* ``before``: the hand-written loop of revision 7f59268, the last before TRL.  Its
  ``train_lora`` also accepts a model folder as ``base`` (it loads the base through
  ``load_engine``, which takes a folder), so it runs unchanged.  That loader keeps an
  inference copy of the model (on the GPU when there is one) beside the one it trains:
  its peak memory includes that copy, whose size is printed under the table.  The old
  package is extracted with ``git archive`` (as ``flagship_engine.py`` does) unless
  ``--before-dir`` names an extracted copy (``--extract-before DIR`` makes one): a copied
  working tree on a GPU machine has no git history.

Both use the same settings: rank 16, alpha 32, learning rate 1e-3, batch size 4, seed 0,
LoRA on q/k/v/o, float32 on the CPU and bfloat16 on a GPU, and the same torch thread count
(``--threads``, default: the cores this process may use).  Reported per run: the
subprocess's wall time (start-up, model load, training, saving), the training seconds that
``train_lora`` reports (the old loop times its steps only; the new one also builds the
trainer, tokenises and writes a checkpoint each epoch), optimizer steps, steps/s and
examples/s over those seconds, the steady rate (steps/s from the first step's end to the
last's: no set-up, no first-step warm-up), peak memory (``torch.cuda.max_memory_allocated``
on a GPU, peak RSS on the CPU) and the final loss (the mean over the last epoch's steps:
the two loops shuffle differently and the last batch holds one example).  The speed-up is
before / now, over training seconds and over the steady rate, measured in one invocation.
Random weights make the losses meaningless as quality; they only show that the two loops
go the same way.  Each run's progress line (and the JSON) gives the machine's one-minute
load average before and after it (the previous training raises it too): on a shared CPU,
another process's work can slow one run several-fold, so repeat a surprising result.

    .venv/bin/python benchmarks/finetune_engine.py --quick           # tiny, lora, 1 epoch
    .venv/bin/python benchmarks/finetune_engine.py --models smollm2 --methods lora --epochs 1
    .venv/bin/python benchmarks/finetune_engine.py --json out.json   # both models, 2 epochs

    # prepare here what a GPU machine needs, then run there (see benchmarks/README.md)
    .venv/bin/python benchmarks/finetune_engine.py --save-tokenizer .artifacts/ft/tokenizer \\
        --extract-before .artifacts/ft/before --save-data .artifacts/ft/date_train.jsonl
    python3 benchmarks/finetune_engine.py --tokenizer .artifacts/ft/tokenizer \\
        --before-dir .artifacts/ft/before --data .artifacts/ft/date_train.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "date_finetune.yaml"
PROMPT = "terse"
BEFORE = "7f59268"  # the last commit with the hand-written LoRA loop (before TRL)
METHODS = ("lora", "qlora")
SETTINGS = {  # LoraConfig fields both revisions know, with the same values
    "learning_rate": 1e-3,
    "rank": 16,
    "alpha": 32,
    "dropout": 0.05,
    "batch_size": 4,
    "max_length": 512,
    "seed": 0,
}

# The architectures, as config keyword arguments (vocab_size and the special tokens come
# from the tokenizer).  SmolLM2-135M's is its published config.json; Qwen2.5-0.5B's too,
# except its vocabulary.
ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    "smollm2": (
        "LlamaConfig",
        {
            "hidden_size": 576,
            "intermediate_size": 1536,
            "num_hidden_layers": 30,
            "num_attention_heads": 9,
            "num_key_value_heads": 3,
            "max_position_embeddings": 8192,
            "rope_theta": 100000.0,
            "rms_norm_eps": 1e-5,
            "tie_word_embeddings": True,
        },
    ),
    "qwen0.5b": (
        "Qwen2Config",
        {
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": True,
            "use_sliding_window": False,
        },
    ),
    "tiny": (
        "LlamaConfig",
        {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            "rope_theta": 100000.0,
            "rms_norm_eps": 1e-5,
            "tie_word_embeddings": True,
        },
    ),
}


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


# --------------------------------------------------------------------------- preparing


def _embedded_tokenizer() -> Path:
    """The converted embedded model's folder (converted once into the harness home)."""
    sys.path.insert(0, str(REPO))
    from harness.models._local_engine import convert_gguf, embedded_gguf_path

    return Path(convert_gguf(embedded_gguf_path()))


def _load_tokenizer(source: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def save_tokenizer(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    _load_tokenizer(source).save_pretrained(str(target))


def save_data(target: Path) -> int:
    """The date pool as chat JSONL in the terse prompt's format, as ``harness decide``
    trains on it (no validation split).  Returns the number of examples."""
    sys.path.insert(0, str(REPO))
    from harness.experiment import load_experiment
    from harness.finetune.prepare import prepare_training_data, write_jsonl

    data = prepare_training_data(load_experiment(str(EXPERIMENT)), PROMPT, validation_fraction=0.0)
    write_jsonl(target, data.train)
    return len(data.train)


def extract_before(revision: str, target: Path) -> Path:
    """``harness/`` of ``revision`` into ``target`` (which then holds ``harness/`` and a
    ``REVISION`` file)."""
    full = subprocess.run(
        ["git", "rev-parse", revision], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    if (target / "harness").exists():
        shutil.rmtree(target / "harness")
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", full, "harness"], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    (target / "REVISION").write_text(full + "\n")
    return target


def _before_root(folder: Path) -> Path:
    """The folder to put on PYTHONPATH: ``folder`` holds ``harness/`` or is ``harness``."""
    if (folder / "harness" / "__init__.py").is_file():
        return folder
    if folder.name == "harness" and (folder / "__init__.py").is_file():
        return folder.parent
    sys.exit(f"--before-dir {folder}: no harness package there (make one with --extract-before)")


def build_model(name: str, tokenizer_dir: Path, target: Path) -> int:
    """``name``'s architecture with random weights (seed 0) and the tokenizer, saved into
    ``target`` in bfloat16 (both loops load with an explicit dtype).  Returns parameters."""
    import torch
    import transformers

    class_name, settings = ARCHITECTURES[name]
    tokenizer = _load_tokenizer(tokenizer_dir)
    config = getattr(transformers, class_name)(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **settings,
    )
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    parameters = sum(p.numel() for p in model.parameters())
    model.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    del model
    return parameters


# --------------------------------------------------------------------------- one training


def _child(spec_file: Path) -> None:
    """One training in this fresh process; its numbers go to ``spec["out"]``."""
    import resource

    spec = json.loads(spec_file.read_text())
    _offline()
    import torch

    torch.set_num_threads(spec["threads"])  # the old loader also reads HARNESS_TORCH_THREADS
    import harness

    where = Path(harness.__file__).resolve()
    if not where.is_relative_to(Path(spec["code"]).resolve()):
        sys.exit(f"imported harness from {where}, not from {spec['code']}")
    from harness.finetune.lora import LoraConfig, train_lora

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    stamps: list[tuple[float, int, float]] = []

    def on_step(step: int, total: int, loss: float) -> None:
        stamps.append((time.perf_counter(), step, loss))

    config = LoraConfig(
        name="bench",
        base=spec["base"],
        epochs=spec["epochs"],
        qlora=spec["method"] == "qlora",
        **SETTINGS,
    )
    started = time.perf_counter()
    result = train_lora(Path(spec["data"]), config, home=Path(spec["home"]), on_step=on_step)
    call = time.perf_counter() - started
    engine_mb = None
    if spec["harness"] == "before":  # the old loader's inference copy of the model
        from harness.models import _local_engine

        engines = getattr(_local_engine, "_ENGINES", {}).values()
        engine_mb = (
            sum(p.numel() * p.element_size() for e in engines for p in e._model.parameters())
            / 2**20
        )
    steady = None
    if len(stamps) >= 2 and stamps[-1][1] > stamps[0][1]:
        steady = (stamps[-1][1] - stamps[0][1]) / (stamps[-1][0] - stamps[0][0])
    per_epoch = max(1, -(-result.examples // SETTINGS["batch_size"]))
    last_epoch = result.losses[-per_epoch:] if result.losses else []
    out = {
        "call_s": call,
        "train_s": result.seconds,
        "steps": result.steps,
        "examples": result.examples,
        "steady_steps_per_s": steady,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "engine_copy_mb": engine_mb,
        "final_loss": sum(last_epoch) / len(last_epoch) if last_epoch else None,
        "last_step_loss": result.losses[-1] if result.losses else None,
        "first_loss": result.losses[0] if result.losses else None,
        "device": result.device,
        "threads": torch.get_num_threads(),
    }
    Path(spec["out"]).write_text(json.dumps(out))


def _train(
    harness_name: str,
    code: Path,
    model: str,
    base: Path,
    method: str,
    options: argparse.Namespace,
    data: Path,
    scratch: Path,
) -> dict[str, Any]:
    run = scratch / "runs" / f"{model}-{method}-{harness_name}"
    run.mkdir(parents=True)
    spec = {
        "harness": harness_name,
        "code": str(code),
        "base": str(base),
        "method": method,
        "epochs": options.epochs,
        "data": str(data),
        "home": str(run / "home"),
        "threads": options.threads,
        "out": str(run / "result.json"),
    }
    (run / "spec.json").write_text(json.dumps(spec))
    env = {
        **os.environ,
        # the revision's harness first; carried packages (a GPU machine's wheels) after it
        "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
        "HARNESS_HOME": str(run / "home"),
        "HARNESS_TORCH_THREADS": str(options.threads),
        "HF_HOME": str(scratch / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(run / "spec.json")]
    record: dict[str, Any] = {"model": model, "method": method, "harness": harness_name}
    record["load_before"] = os.getloadavg()[0]  # others' work on a shared machine skews times
    started = time.perf_counter()
    with open(run / "log.txt", "w") as log:
        try:
            proc = subprocess.run(
                command, cwd=run, env=env, stdout=log, stderr=subprocess.STDOUT,
                timeout=options.run_timeout,
            )  # fmt: skip
            failed = proc.returncode != 0 and f"exit status {proc.returncode}"
        except subprocess.TimeoutExpired:
            failed = f"timed out after {options.run_timeout} s"
    record["wall_s"] = time.perf_counter() - started
    record["load_after"] = os.getloadavg()[0]
    if failed:
        tail = (run / "log.txt").read_text(errors="replace")[-3000:]
        record["error"] = f"{failed}:\n{tail}"
        return record
    record.update(json.loads((run / "result.json").read_text()))
    seconds = record["train_s"]
    record["steps_per_s"] = record["steps"] / seconds
    record["examples_per_s"] = record["examples"] * options.epochs / seconds
    return record


# --------------------------------------------------------------------------- reporting


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _report(runs: list[dict[str, Any]], speedups: list[dict[str, Any]], cuda: bool) -> None:
    from tabulate import tabulate

    memory = "peak GPU MB" if cuda else "peak RSS MB"
    rows = []
    for r in runs:
        if "error" in r:
            rows.append([r["model"], r["method"], r["harness"], _fmt(r["wall_s"], 1), "failed"])
            continue
        peak = r["peak_gpu_mb"] if cuda else r["peak_rss_mb"]
        rows.append(
            [
                r["model"],
                r["method"],
                r["harness"],
                _fmt(r["wall_s"], 1),
                _fmt(r["train_s"], 1),
                r["steps"],
                _fmt(r["steps_per_s"]),
                _fmt(r["steady_steps_per_s"]),
                _fmt(r["examples_per_s"], 1),
                _fmt(peak, 0),
                _fmt(r["final_loss"], 3),
            ]
        )
    headers = ["model", "method", "harness", "wall s", "train s", "steps", "steps/s"]
    headers += ["steady steps/s", "examples/s", memory, "final loss"]
    print(tabulate(rows, headers=headers, disable_numparse=True, stralign="right"))
    if speedups:
        print("\nspeed-up, before / now (same invocation):")
        table = [
            [s["model"], s["method"], _fmt(s["train_s"]) + "x", _fmt(s["steady"]) + "x"]
            for s in speedups
        ]
        print(
            tabulate(
                table,
                headers=["model", "method", "train seconds", "steady steps/s"],
                disable_numparse=True,
                stralign="right",
            )
        )
    copies = {
        (r["model"], r["method"]): r["engine_copy_mb"] for r in runs if r.get("engine_copy_mb")
    }
    for (model, method), mb in copies.items():
        print(
            f"  before, {model} {method}: {mb:.0f} MB of its peak is the old loader's "
            "inference copy of the model"
        )
    for r in runs:
        if "error" in r:
            print(f"\n{r['model']} {r['method']} {r['harness']} failed: {r['error']}")


# --------------------------------------------------------------------------- main


def _choices(raw: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        sys.exit(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return names


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _qlora_skip(cuda: bool) -> str | None:
    import importlib.util

    if not cuda:
        return "no CUDA GPU here (4-bit bitsandbytes kernels need one)"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="smollm2,qwen0.5b", help="of: smollm2, qwen0.5b, tiny")
    parser.add_argument("--methods", default="lora,qlora", help="of: lora, qlora")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--quick", action="store_true", help="--models tiny --methods lora --epochs 1"
    )
    parser.add_argument("--tokenizer", type=Path, help="a folder holding a saved SmolLM2 tokenizer")
    parser.add_argument("--data", type=Path, help="the chat JSONL to train on")
    parser.add_argument("--before-dir", type=Path, help="an extracted old harness (or its parent)")
    parser.add_argument("--before-rev", default=BEFORE, help="git revision of the `before` loop")
    parser.add_argument("--no-before", action="store_true", help="train with this tree's only")
    parser.add_argument("--threads", type=int, default=_default_threads(), help="torch threads")
    parser.add_argument("--run-timeout", type=int, default=900, help="seconds per training")
    parser.add_argument("--json", type=Path, help="write every number here")
    parser.add_argument("--scratch", type=Path, help="keep models and runs here (else a temp dir)")
    parser.add_argument("--save-tokenizer", type=Path, metavar="DIR", help="write it and stop")
    parser.add_argument("--extract-before", type=Path, metavar="DIR", help="write it and stop")
    parser.add_argument("--save-data", type=Path, metavar="FILE", help="write it and stop")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    _offline()
    if options.child:
        _child(options.child)
        return
    if options.save_tokenizer or options.extract_before or options.save_data:
        if options.save_tokenizer:
            save_tokenizer(options.tokenizer or _embedded_tokenizer(), options.save_tokenizer)
            print(f"{options.save_tokenizer}: tokenizer")
        if options.extract_before:
            extract_before(options.before_rev, options.extract_before)
            print(f"{options.extract_before}: harness/ of {options.before_rev}")
        if options.save_data:
            count = save_data(options.save_data)
            print(f"{options.save_data}: {count} chat examples")
        return
    for name in ("tokenizer", "data", "before_dir", "scratch"):  # children run elsewhere
        if getattr(options, name) is not None:
            setattr(options, name, getattr(options, name).resolve())
    if options.quick:
        options.models, options.methods, options.epochs = "tiny", "lora", 1
    models = _choices(options.models, tuple(ARCHITECTURES), "model")
    requested = _choices(options.methods, METHODS, "method")
    methods = list(requested)

    import torch

    cuda = torch.cuda.is_available()
    skip = _qlora_skip(cuda)
    if "qlora" in methods and skip:
        print(f"qlora skipped: {skip}", file=sys.stderr)
        methods = [m for m in methods if m != "qlora"]
    scratch_context = (
        tempfile.TemporaryDirectory(prefix="finetune-engine-") if options.scratch is None else None
    )
    scratch = Path(scratch_context.name) if scratch_context else options.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        tokenizer = options.tokenizer or _embedded_tokenizer()
        data = options.data
        if data is None:
            data = scratch / "date_train.jsonl"
            save_data(data)
        examples = sum(1 for line in data.read_text().splitlines() if line.strip())
        before_code, before_rev = None, None
        if options.before_dir:
            before_code = _before_root(options.before_dir)
            record = before_code / "REVISION"
            before_rev = record.read_text().strip() if record.is_file() else str(before_code)
        elif not options.no_before:
            try:
                before_code = extract_before(options.before_rev, scratch / "before")
                before_rev = (before_code / "REVISION").read_text().strip()
            except (OSError, subprocess.CalledProcessError) as error:
                print(f"before skipped: cannot extract {options.before_rev} ({error}); "
                      "give --before-dir", file=sys.stderr)  # fmt: skip
        harnesses = [("before", before_code)] if before_code else []
        harnesses.append(("now", REPO))
        device = torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.machine()})"
        print(
            f"{device}, torch {torch.__version__}, {options.threads} threads; {examples} "
            f"examples x {options.epochs} epochs; before = {before_rev or 'not run'}",
            file=sys.stderr,
        )
        runs: list[dict[str, Any]] = []
        parameters: dict[str, int] = {}
        for model in models:
            base = scratch / "models" / model
            if not (base / "config.json").is_file():
                started = time.perf_counter()
                parameters[model] = build_model(model, tokenizer, base)
                print(
                    f"  built {model}: {parameters[model] / 1e6:.0f}M parameters "
                    f"({time.perf_counter() - started:.1f} s)",
                    file=sys.stderr,
                )
            for method in methods:
                for name, code in harnesses:
                    runs.append(_train(name, code, model, base, method, options, data, scratch))
                    r = runs[-1]
                    done = "failed" if "error" in r else f"train {r['train_s']:.1f} s"
                    load = f"load average {r['load_before']:.1f} -> {r['load_after']:.1f}"
                    print(
                        f"  {model} {method} {name}: {r['wall_s']:.1f} s ({done}; {load})",
                        file=sys.stderr,
                    )
        speedups = []
        for model in models:
            for method in methods:
                pair = {
                    r["harness"]: r
                    for r in runs
                    if r["model"] == model and r["method"] == method and "error" not in r
                }
                if {"before", "now"} <= set(pair):
                    b, n = pair["before"], pair["now"]
                    steady = None
                    if b["steady_steps_per_s"] and n["steady_steps_per_s"]:
                        steady = n["steady_steps_per_s"] / b["steady_steps_per_s"]
                    speedups.append(
                        {
                            "model": model,
                            "method": method,
                            "train_s": b["train_s"] / n["train_s"],
                            "steady": steady,
                            "wall_s": b["wall_s"] / n["wall_s"],
                        }
                    )
        print(
            f"\n{device}, {options.threads} torch threads, {examples} examples x "
            f"{options.epochs} epochs, batch 4, LoRA r16 on q/k/v/o, random weights\n"
        )
        _report(runs, speedups, cuda)
        if options.json:
            summary = {
                "device": device,
                "cuda": cuda,
                "torch": torch.__version__,
                "threads": options.threads,
                "epochs": options.epochs,
                "examples": examples,
                "settings": SETTINGS,
                "before": before_rev,
                "qlora_skipped": skip if "qlora" in requested else None,
                "parameters": parameters,
                "runs": runs,
                "speedups": speedups,
            }
            options.json.parent.mkdir(parents=True, exist_ok=True)
            options.json.write_text(json.dumps(summary, indent=2) + "\n")
        if any("error" in r for r in runs):
            sys.exit(1)
    finally:
        if scratch_context:
            scratch_context.cleanup()


if __name__ == "__main__":
    main()
