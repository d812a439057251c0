"""``harness finetune export NAME --format peft|merged|gguf -o DIR``: a trained adapter,
ready to serve elsewhere.

``peft`` is the adapter folder as PEFT writes it (what transformers and vLLM's
``--lora-modules NAME=DIR`` load), its base recorded as the hub id when the base is the
embedded model, so a server that downloads models finds it. ``merged`` is a full model in
safetensors with the adapter folded in, plus its tokenizer: any server that loads a
Hugging Face folder serves it, and so does this harness as ``local:DIR``. ``gguf`` is
``DIR/adapter.gguf``, llama.cpp's GGUF LoRA adapter, for ``llama-server --model BASE.gguf
--lora DIR/adapter.gguf`` or llama-cpp-python's server (``--lora_path``); for the embedded
base, BASE.gguf is the embedded GGUF itself. See ``harness.finetune._gguf_lora`` for the
base architectures it supports.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.adapter_records import adapter_record, write_record
from harness.errors import FinetuneError
from harness.home import adapter_dir, harness_home

__all__ = ["EMBEDDED_HUB_ID", "Exported", "export_adapter"]

#: The hub model the embedded GGUF (Q4_1) was made from: what a server would download.
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass(frozen=True)
class Exported:
    """What ``export_adapter`` wrote, and how to serve it."""

    path: Path
    format: str
    base: str  # the base model as a server names it
    serve: str  # a command line that serves it
    note: str | None = None  # what the user must do first, if anything


def export_adapter(
    name: str,
    fmt: Literal["peft", "merged", "gguf"],
    out: Path,
    *,
    home: Path | None = None,
) -> Exported:
    """Write the adapter ``name`` (trained with ``harness finetune train``) to ``out``.

    ``fmt`` is ``peft`` (the adapter folder), ``merged`` (a full safetensors model) or
    ``gguf`` (``out/adapter.gguf``, a llama.cpp LoRA adapter; its base's architecture must
    be one llama.cpp's conversion is reproduced for, else :class:`FinetuneError`).
    """
    root = harness_home(home)
    source = adapter_dir(root, name)
    meta = adapter_record(root, name)
    if not all((source / f).exists() for f in _ADAPTER_FILES) or meta is None:
        raise FinetuneError(
            f"no trained adapter {name!r} in {root}: train one with "
            f"`harness finetune train DATA --name {name}`"
        )
    base = str(meta.get("base") or "smollm2")
    hub = EMBEDDED_HUB_ID if base == "smollm2" else base
    if out.exists() and not out.is_dir():
        raise FinetuneError(f"{out} is a file: -o names a folder to write the export into")
    if out.exists() and any(out.iterdir()):
        raise FinetuneError(f"{out} exists and is not empty: choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "peft":
        for file in _ADAPTER_FILES:
            shutil.copy2(source / file, out / file)
        config_path = out / "adapter_config.json"
        config = json.loads(config_path.read_text("utf-8"))
        config["base_model_name_or_path"] = hub
        config_path.write_text(json.dumps(config, indent=2), "utf-8")
        _write_meta(out, meta, name, fmt, hub)
        serve = f"vllm serve {hub} --enable-lora --lora-modules {name}={out.resolve()}"
        return Exported(out, fmt, hub, serve)
    if fmt == "gguf":
        return _export_gguf(name, base, source, out, meta, hub, root)
    _merge(base, source, out, home)
    _write_meta(out, meta, name, fmt, hub)
    return Exported(out, fmt, hub, f"vllm serve {out.resolve()} --served-model-name {name}")


def _merge(base: str, adapter: Path, out: Path, home: Path | None) -> None:
    import torch
    from peft import PeftModel

    from harness._hf import import_offline, quiet
    from harness.finetune.lora import _base_weights

    transformers = import_offline("transformers")
    # The base's files only: loading it as an engine would hold a second copy of the
    # model in memory (for as long as the process lives) beside the one merged here.
    weights = _base_weights(base, home)
    try:
        with quiet():
            model = transformers.AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
            tokenizer = transformers.AutoTokenizer.from_pretrained(weights)
    except (OSError, ValueError) as error:
        raise FinetuneError(f"cannot load the adapter's base {base!r}: {error}") from error
    with warnings.catch_warnings():  # peft calls a transformers API deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    with quiet():
        merged.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))


def _export_gguf(
    name: str,
    base: str,
    source: Path,
    out: Path,
    meta: dict[str, object],
    hub: str,
    home: Path,
) -> Exported:
    from harness.finetune._gguf_lora import write_gguf_lora

    config, base_gguf = _base_config(base, home)
    written = write_gguf_lora(source, config, out / "adapter.gguf", name=name)
    _write_meta(out, meta, name, "gguf", hub)
    # A base without a GGUF file is served once converted by llama.cpp's convert_hf_to_gguf.py.
    model = str(base_gguf) if base_gguf is not None else "BASE.gguf"
    serve = f"python -m llama_cpp.server --model {model} --lora_path {written.path.resolve()}"
    note = None
    if base_gguf is None:
        folder = Path(base).expanduser().resolve()
        note = (
            "BASE.gguf is the base model converted by llama.cpp: "
            f"python convert_hf_to_gguf.py {folder} --outfile BASE.gguf"
        )
    return Exported(written.path, "gguf", model, serve, note)


def _base_config(base: str, home: Path) -> tuple[Path, Path | None]:
    """The base model's Hugging Face ``config.json``, and its GGUF file when it has one."""
    from harness.models._local_setup import EMBEDDED_MODEL, convert_gguf, embedded_gguf_path

    if base == EMBEDDED_MODEL or base.endswith(".gguf"):
        gguf = embedded_gguf_path() if base == EMBEDDED_MODEL else Path(base).expanduser()
        return convert_gguf(gguf, home=home) / "config.json", gguf.resolve()
    config = Path(base).expanduser() / "config.json"
    if config.is_file():
        return config, None
    raise FinetuneError(
        f"cannot find the config.json of the adapter's base {base!r}: --format gguf needs "
        "the base as the embedded model, a .gguf file or a model folder"
    )


def _write_meta(out: Path, meta: dict[str, object], name: str, fmt: str, hub: str) -> None:
    """The training run's record, so a decision can link the served model to it."""
    record = {**meta, "exported_from": name, "format": fmt, "base_hub_id": hub}
    write_record(out, record)
