"""Local LoRA training sessions, for real, on a tiny random-weight Llama (fast on a CPU).

A training killed with SIGKILL resumes from its last complete checkpoint (and starts over
when the data or settings changed), an eval split gives eval loss per epoch and early
stopping, every adapter carries its loss curve, and ``--accelerate-config`` runs the
command under ``accelerate launch``: one process, and two CPU processes (gloo).

The base model is built once per module: Llama with hidden size 64 and 2 layers, random
weights, and the embedded SmolLM2's tokenizer and chat template (taken from the converted
copy under the default harness home, which the other local-model tests share).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from harness.errors import FinetuneError
from harness.finetune.lora import LoraConfig, TrainedAdapter, train_lora
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

SYSTEM = "Convert the date to ISO 8601. Reply with the date only."
SVG = "{http://www.w3.org/2000/svg}"
# Subprocesses: one torch thread each (the tiny model gains nothing from more, and two
# processes on two cores must not fight over four threads).
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "HARNESS_DEBUG": "1"}


def _chat(question: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


TRAIN = [_chat(f"May {day}, 2001", f"2001-05-{day:02d}") for day in range(1, 17)]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


def _config(base: Path, name: str, **settings: Any) -> LoraConfig:
    """16 examples in batches of 4: 4 optimizer steps an epoch."""
    return LoraConfig(name=name, base=str(base), batch_size=4, max_length=64, **settings)


def _meta(home: Path, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((home / "adapters" / name / "harness.json").read_text())
    return meta


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    saved = os.environ.get("HARNESS_TORCH_THREADS")
    os.environ["HARNESS_TORCH_THREADS"] = "1"  # what training itself sets
    yield
    torch.set_num_threads(threads)
    if saved is None:
        del os.environ["HARNESS_TORCH_THREADS"]
    else:
        os.environ["HARNESS_TORCH_THREADS"] = saved


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face folder: a random 2-layer Llama with SmolLM2's tokenizer."""
    import torch

    from harness._hf import import_offline, quiet
    from harness.models._local_engine import convert_gguf, embedded_gguf_path

    transformers = import_offline("transformers")
    converted = convert_gguf(embedded_gguf_path())  # the shared copy: converted once
    folder = tmp_path_factory.mktemp("tiny-llama")
    with quiet():
        tokenizer = transformers.AutoTokenizer.from_pretrained(converted)
        config = transformers.LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=256,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        torch.manual_seed(0)
        transformers.LlamaForCausalLM(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def _svg_series(path: Path) -> dict[str, ET.Element]:
    """The curve's named series (``<g id=...>``) in an SVG file."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return {g.attrib["id"]: g for g in root.iter(f"{SVG}g") if "loss" in g.attrib.get("id", "")}


# --------------------------------------------------------------------------- kill and resume

# Trains, printing each step's loss; at step ``pause`` (the first of the second epoch, so the
# first epoch's checkpoint is complete: the trainer saves it before the next step) it waits
# for the test's SIGKILL instead of racing it.
CHILD = """
import json, sys, threading
from pathlib import Path
from harness.finetune.lora import LoraConfig, train_lora

spec = json.loads(sys.argv[1])

def on_step(step, total, loss):
    print(json.dumps({"step": step, "total": total, "loss": loss}), flush=True)
    if step == spec["pause"]:
        threading.Event().wait()

train_lora(
    Path(spec["data"]), LoraConfig(**spec["config"]), home=Path(spec["home"]), on_step=on_step
)
"""


def _train_until_killed(
    data: Path, config: LoraConfig, home: Path, pause: int, log: Path
) -> list[float]:
    """Run the training in a subprocess, SIGKILL it at step ``pause``; the step losses seen."""
    spec = {
        "data": str(data),
        "home": str(home),
        "config": asdict(config),
        "pause": pause,
    }
    with (
        log.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=REPO,
            env=ONE_THREAD,
        ) as child,
    ):
        watchdog = threading.Timer(300, child.kill)  # a hung child fails the test, not CI
        watchdog.start()
        losses = []
        try:
            assert child.stdout is not None
            for line in child.stdout:
                seen = json.loads(line)
                losses.append(seen["loss"])
                if seen["step"] == pause:
                    child.send_signal(signal.SIGKILL)
                    break
        finally:
            watchdog.cancel()
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, log.read_text()
    assert len(losses) == pause, log.read_text()
    return losses


def test_a_killed_training_resumes_from_its_last_checkpoint(
    tiny_base: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    data = _write(tmp_path / "train.jsonl", TRAIN)
    config = _config(tiny_base, "dates", epochs=3)  # 12 steps: checkpoints at 4, 8, 12
    before_kill = _train_until_killed(data, config, home, pause=5, log=tmp_path / "child.log")

    checkpoints = home / "adapters" / ".dates.checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-4"]
    state = json.loads((checkpoints / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    fingerprint = json.loads((checkpoints / "harness-training.json").read_text())["fingerprint"]
    assert not (home / "adapters" / "dates").exists()  # killed before it saved anything
    snapshot = shutil.copytree(checkpoints, tmp_path / "snapshot")

    def again(changed: LoraConfig, rows: list[dict[str, Any]]) -> TrainedAdapter:
        shutil.rmtree(checkpoints, ignore_errors=True)
        shutil.copytree(snapshot, checkpoints)
        return train_lora(_write(tmp_path / "train.jsonl", rows), changed, home=home)

    # other settings, or other data: the checkpoint is not theirs, training starts over
    other_lr = again(replace(config, learning_rate=5e-4), TRAIN)
    assert other_lr.resumed_from_step is None and other_lr.steps == 12
    assert _meta(home, "dates")["resumed_from_step"] is None
    assert not checkpoints.exists()
    other_data = again(config, [*TRAIN[:-1], _chat("May 16, 2001", "2001-05-16T00:00")])
    assert other_data.resumed_from_step is None and other_data.steps == 12

    # the same training again: it resumes from the checkpoint, even with a newer one that
    # the kill left half-written (no trainer_state.json) beside it
    shutil.rmtree(checkpoints, ignore_errors=True)
    shutil.copytree(snapshot, checkpoints)
    half = checkpoints / "checkpoint-8"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    # the killed run's training time, recorded with its checkpoint, counts toward the cost
    elapsed = checkpoints / "checkpoint-4" / "harness-elapsed.json"
    assert json.loads(elapsed.read_text())["seconds"] > 0
    elapsed.write_text('{"seconds": 1000.0}')
    resumed = train_lora(_write(tmp_path / "train.jsonl", TRAIN), config, home=home)
    assert resumed.resumed_from_step == 4
    assert 1000 < resumed.seconds < 1300
    assert resumed.steps == other_lr.steps == 12  # as many steps as an uninterrupted run
    # the whole training's losses: steps 1-4 from the checkpoint, then the same step 5 the
    # killed process computed (resuming restores the optimizer, scheduler and RNG states)
    assert len(resumed.losses) == 12
    assert resumed.losses[:5] == pytest.approx(before_kill, rel=1e-5)
    assert not checkpoints.exists()
    meta = _meta(home, "dates")
    assert meta["resumed_from_step"] == 4 and meta["steps"] == 12 and len(meta["losses"]) == 12
    assert meta["seconds"] == resumed.seconds
    assert meta["data_hash"] == fingerprint and meta["config"]["learning_rate"] == 1e-3
    adapter = home / "adapters" / "dates"
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "adapter_model.safetensors").stat().st_size > 0
    series = _svg_series(adapter / "loss.svg")
    assert "train-loss" in series and "eval-loss" not in series  # no eval split: no eval line


# --------------------------------------------------------------------------- eval and curve


@pytest.fixture(scope="module")
def evaluated(
    tiny_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainedAdapter, list[tuple[float, float]], Path]:
    """2 epochs on 12 of the 16 examples, 4 held out: (adapter, on_eval calls, home)."""
    folder = tmp_path_factory.mktemp("evaluated")
    calls: list[tuple[float, float]] = []
    adapter = train_lora(
        _write(folder / "train.jsonl", TRAIN),
        _config(tiny_base, "held-out", epochs=2, eval_fraction=0.25),
        home=folder / "home",
        on_eval=lambda epoch, loss: calls.append((epoch, loss)),
    )
    return adapter, calls, folder / "home"


def test_eval_fraction_gives_one_eval_loss_per_epoch(
    evaluated: tuple[TrainedAdapter, list[tuple[float, float]], Path],
) -> None:
    adapter, calls, home = evaluated
    assert [epoch for epoch, _ in adapter.eval_losses] == [1.0, 2.0]
    assert all(math.isfinite(loss) and loss > 0 for _, loss in adapter.eval_losses)
    assert calls == adapter.eval_losses
    assert adapter.examples == 12 and adapter.steps == 6  # 12 examples, 3 batches an epoch
    meta = _meta(home, "held-out")
    assert meta["examples"] == 12 and meta["eval_examples"] == 4
    assert meta["eval_losses"] == [list(pair) for pair in adapter.eval_losses]
    assert meta["stopped_early"] is False


def test_the_loss_curve_is_a_png_and_an_svg_with_both_series(
    evaluated: tuple[TrainedAdapter, list[tuple[float, float]], Path],
) -> None:
    from PIL import Image

    adapter, _, _ = evaluated
    assert adapter.curve == [adapter.path / "loss.png", adapter.path / "loss.svg"]
    with Image.open(adapter.path / "loss.png") as png:
        assert png.format == "PNG" and png.size == (768, 432)  # 6.4 x 3.6 in at 120 dpi
        png.verify()
    series = _svg_series(adapter.path / "loss.svg")
    assert {"train-loss", "eval-loss"} <= series.keys()
    (train_line,) = series["train-loss"].iter(f"{SVG}path")
    assert train_line.attrib["d"].count("L") >= 1  # a line through the step losses
    # the eval series: a line and one marker per epoch
    assert len(list(series["eval-loss"].iter(f"{SVG}path"))) >= 1
    assert len(list(series["eval-loss"].iter(f"{SVG}use"))) == len(adapter.eval_losses)


def test_an_eval_file_and_early_stopping(tiny_base: Path, tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", TRAIN)
    eval_file = _write(
        tmp_path / "eval.jsonl",
        [_chat(f"June {day}, 1999", f"1999-06-{day:02d}") for day in (3, 9)],
    )
    home = tmp_path / "home"
    # A learning rate of 0 leaves the adapter at zero, so the eval loss cannot improve on
    # any machine: patience 1 stops after the second of four epochs.
    adapter = train_lora(
        data,
        _config(tiny_base, "stops", epochs=4, learning_rate=0.0, early_stopping=1),
        home=home,
        eval_data=eval_file,
    )
    assert [epoch for epoch, _ in adapter.eval_losses] == [1.0, 2.0]
    assert adapter.eval_losses[1][1] == adapter.eval_losses[0][1]
    assert adapter.steps == 8  # of 16
    meta = _meta(home, "stops")
    assert meta["stopped_early"] is True and meta["steps"] == 8
    assert meta["examples"] == 16 and meta["eval_examples"] == 2  # the file, not a split
    assert not (home / "adapters" / ".stops.checkpoints").exists()


def test_eval_settings_that_cannot_work_are_clear_errors(tiny_base: Path, tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", TRAIN)
    with pytest.raises(FinetuneError, match="early stopping needs an eval split"):
        train_lora(data, _config(tiny_base, "x", early_stopping=2), home=tmp_path / "home")
    with pytest.raises(FinetuneError, match="eval_fraction or an eval file, not both"):
        train_lora(
            data,
            _config(tiny_base, "x", eval_fraction=0.25),
            home=tmp_path / "home",
            eval_data=data,
        )
    assert not (tmp_path / "home" / "adapters").exists()


def test_a_missing_base_folder_is_named(tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", TRAIN)
    for base in (str(tmp_path / "no-such-model"), "./no-such-model"):
        with pytest.raises(FinetuneError, match=f"no model folder at {re.escape(base)}"):
            train_lora(data, LoraConfig(name="x", base=base), home=tmp_path / "home")


def test_relative_base_is_recorded_absolute_and_threads_are_restored(
    tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.chdir(tiny_base.parent)
    monkeypatch.setenv("HARNESS_TORCH_THREADS", "2")
    seen: list[int] = []
    adapter = train_lora(
        _write(tmp_path / "train.jsonl", TRAIN),
        _config(Path(tiny_base.name), "relative", epochs=1),
        home=tmp_path / "home",
        on_step=lambda *_: seen.append(torch.get_num_threads()),
    )
    assert seen and set(seen) == {2}  # $HARNESS_TORCH_THREADS while training
    assert torch.get_num_threads() == 1  # the process's own setting afterwards
    # export and serving find the base from any working directory
    assert _meta(tmp_path / "home", "relative")["base"] == str(tiny_base.resolve())
    assert adapter.model_id == f"local:{tiny_base.resolve()}+relative"


# --------------------------------------------------------------------------- accelerate


def _free_port() -> int:
    """A port for the processes' rendezvous (not accelerate's 29500, which another
    training on this machine may hold)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accelerate_config(path: Path, distributed: str, processes: int) -> Path:
    path.write_text(
        "compute_environment: LOCAL_MACHINE\n"
        f"distributed_type: {distributed}\n"
        f"num_processes: {processes}\n"
        "num_machines: 1\n"
        "machine_rank: 0\n"
        f"main_process_port: {_free_port()}\n"
        "use_cpu: true\n"
        "mixed_precision: 'no'\n"
        "downcast_bf16: 'no'\n"
        "rdzv_backend: static\n"
        "same_network: true\n"
        "debug: false\n",
        "utf-8",
    )
    return path


def _launch(tiny_base: Path, tmp_path: Path, name: str, config: Path) -> tuple[Path, str]:
    """``harness finetune train ... --accelerate-config`` as a user runs it; (home, stdout)."""
    home = tmp_path / "home"
    data = _write(tmp_path / "train.jsonl", TRAIN)
    command = [
        *(sys.executable, "-m", "harness", "finetune", "train", str(data)),
        *("--base", f"local:{tiny_base}", "--name", name, "--epochs", "1"),
        *("--max-length", "64", "--home", str(home), "--accelerate-config", str(config)),
    ]
    # its own process group: a hung launch is ended with accelerate's and torchrun's children
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=ONE_THREAD,
        start_new_session=True,
    ) as launch:
        try:
            out, err = launch.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(launch.pid, signal.SIGKILL)
            out, err = launch.communicate()
    assert launch.returncode == 0, err[-4000:]
    return home, out


def test_accelerate_launch_on_one_cpu_process(
    tiny_base: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # called in-process (as a script or notebook would): the launched command is rebuilt
    # from the parsed options, not from this process's own sys.argv (pytest's)
    from harness._cli.main import main

    config = _accelerate_config(tmp_path / "one.yaml", "'NO'", 1)
    home = tmp_path / "home"
    data = _write(tmp_path / "train.jsonl", TRAIN)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                *("finetune", "train", str(data), "--base", f"local:{tiny_base}"),
                *("--name", "launched", "--epochs", "1", "--max-length", "64"),
                *("--home", str(home), "--accelerate-config", str(config)),
            ]
        )
    out, err = capfd.readouterr()
    assert exit_info.value.code == 0, err[-4000:]
    assert f"local:{tiny_base}+launched: 16 examples, 4 steps" in out
    meta = _meta(home, "launched")
    assert meta["processes"] == 1 and meta["device"] == "cpu" and meta["steps"] == 4
    assert (home / "adapters" / "launched" / "adapter_model.safetensors").is_file()


def test_accelerate_launch_on_two_cpu_processes(tiny_base: Path, tmp_path: Path) -> None:
    # accelerate starts several CPU processes on one machine through torchrun when the
    # config says MULTI_GPU with use_cpu (MULTI_CPU would need mpirun: see the next test)
    config = _accelerate_config(tmp_path / "two.yaml", "MULTI_GPU", 2)
    home, out = _launch(tiny_base, tmp_path, "ddp", config)
    assert out.count("saved to") == 1, out  # only the main process reports
    meta = _meta(home, "ddp")
    assert meta["processes"] == 2 and meta["device"] == "2x cpu"
    assert meta["steps"] == 2  # 16 examples in batches of 4 on each of 2 processes
    assert len(meta["losses"]) == 2
    # one adapter, written once, and no checkpoints left behind
    assert [p.name for p in (home / "adapters").iterdir()] == ["ddp"]
    assert (home / "adapters" / "ddp" / "adapter_model.safetensors").is_file()


def test_accelerate_configs_that_cannot_work_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(tmp_path / "train.jsonl", TRAIN)
    train = ["finetune", "train", str(data), "--name", "x", "--home", str(tmp_path / "home")]
    code, _, err = run_cli([*train, "--accelerate-config", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "none.yaml" in err and "does not exist" in err
    # without mpirun, accelerate would run MULTI_CPU as one process and say nothing
    config = _accelerate_config(tmp_path / "cpu.yaml", "MULTI_CPU", 2)
    code, _, err = run_cli([*train, "--accelerate-config", str(config)], capsys)
    assert code == 2 and "MULTI_CPU with num_processes: 2 needs mpirun" in err
    assert not (tmp_path / "home" / "adapters").exists()


def test_names_and_data_that_cannot_work_are_said_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.errors import HarnessError

    data = _write(tmp_path / "train.jsonl", TRAIN)
    home = tmp_path / "home"
    keep = home / "runs" / "keep.txt"
    keep.parent.mkdir(parents=True)
    keep.write_text("a run record")
    # an adapter's name names a folder under adapters/: never a path out of it (`..` once
    # removed the whole home after training)
    for name in ("..", ".", "a/b", "/tmp/x", ""):
        with pytest.raises(HarnessError, match="adapter name"):
            train_lora(data, LoraConfig(name=name, base="/nonexistent"), home=home)
    code, _, err = run_cli(
        ["finetune", "train", str(data), "--name", "..", "--home", str(home)], capsys
    )
    assert code == 2 and "adapter name '..'" in err and "Traceback" not in err
    assert keep.exists()
    with pytest.raises(FinetuneError, match=r"a '\+' would end the base"):
        train_lora(data, LoraConfig(name="x", base="/models/c++/m"), home=home)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": "hi"}\n')
    with pytest.raises(FinetuneError, match="bad.jsonl:1: messages must be a list"):
        train_lora(bad, LoraConfig(name="x", base="/nonexistent"), home=home)
    args = ["finetune", "train", str(data), "--name", "x", "--sizes", "-5", "--home", str(home)]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "--sizes must be positive integers" in err
