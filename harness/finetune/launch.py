"""``harness finetune train ... --accelerate-config FILE``: the same training under
``accelerate launch``, one process per GPU (or node), with the user's accelerate,
DeepSpeed or FSDP configuration.

Equivalent to ``accelerate launch --config_file FILE -m harness finetune train ...``; each
process runs the ordinary command, and TRL's trainer divides the batches among them.  Only
the main process writes the adapter, its record and its loss curve.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import FinetuneError

__all__ = ["accelerate_command", "launch_training"]


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
    return subprocess.call(accelerate_command(config_file, args))
