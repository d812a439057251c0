"""``harness finetune train ... --accelerate-config FILE``: the same training under
``accelerate launch``, one process per GPU (or node), with the user's accelerate,
DeepSpeed or FSDP configuration.

Equivalent to ``accelerate launch --config_file FILE -m harness finetune train ...``; each
process runs the ordinary command, and TRL's trainer divides the batches among them.  Only
the main process writes the adapter, its record and its loss curve.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import FinetuneError

__all__ = ["accelerate_command", "launch_training", "launched_worker"]


def accelerate_command(config_file: Path, args: Sequence[str]) -> list[str]:
    """The ``accelerate launch`` command line for ``harness`` arguments ``args`` (those
    after the program name), without the ``--accelerate-config`` option itself."""
    rest: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--accelerate-config":
            skip = True
        elif not arg.startswith("--accelerate-config="):
            rest.append(arg)
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config_file),
        "-m",
        "harness",
        *rest,
    ]


def launch_training(config_file: Path, args: Sequence[str]) -> int:
    """Run the training under ``accelerate launch``; returns its exit status."""
    try:
        import accelerate  # noqa: F401
    except ImportError:
        raise FinetuneError(
            "--accelerate-config needs accelerate: pip install accelerate"
        ) from None
    if not config_file.is_file():
        raise FinetuneError(f"{config_file}: no such accelerate config file")
    _check_processes(config_file)
    return subprocess.call(accelerate_command(config_file, args))


def launched_worker() -> bool:
    """Whether this is one of the processes ``accelerate launch`` started, other than the
    first: it trains its share but neither shows progress nor reports."""
    return os.environ.get("RANK", "0") not in ("", "0")


def _check_processes(config_file: Path) -> None:
    """Refuse a config that asks for several CPU processes which accelerate would not start.

    accelerate starts ``MULTI_CPU`` processes through ``mpirun`` (its ``mpirun_config``);
    without one it runs the script once, as a single process, and says nothing.
    """
    import yaml

    try:
        settings = yaml.safe_load(config_file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise FinetuneError(f"{config_file}: not an accelerate config file ({error})") from None
    if not isinstance(settings, dict):
        raise FinetuneError(f"{config_file}: not an accelerate config file")
    processes = settings.get("num_processes")
    mpirun = settings.get("mpirun_config") or {}
    if (
        settings.get("distributed_type") == "MULTI_CPU"
        and isinstance(processes, int)
        and processes > 1
        and not (isinstance(mpirun, dict) and mpirun.get("mpirun_hostfile"))
    ):
        raise FinetuneError(
            f"{config_file}: MULTI_CPU with num_processes: {processes} needs mpirun "
            "(mpirun_config: {mpirun_hostfile: ...}); without it accelerate starts one process. "
            "On one machine, distributed_type: MULTI_GPU with use_cpu: true starts them "
            "through torchrun (gloo)"
        )
