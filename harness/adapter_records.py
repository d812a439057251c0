"""Training records on disk: ``harness.json`` beside a trained adapter, written and read
here only.

Training writes the record into the adapter's folder in the harness home (how it was
trained: base, settings, data hash, losses, eval losses, seconds, device); every export
copies it, adding ``exported_from`` (the adapter's name), so a merged model served or
evaluated elsewhere is still known as that training run's fine-tuned model. Records are
user data that can be damaged or edited: a reader gets ``None`` for one that is not a
JSON object, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.home import ADAPTER_NAME, adapter_meta_path

__all__ = ["RECORD_FILE", "adapter_record", "exported_training", "read_record", "write_record"]

RECORD_FILE = "harness.json"


def write_record(folder: Path, record: Mapping[str, Any]) -> None:
    """Write ``record`` as the training record of the adapter or export in ``folder``."""
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2), "utf-8")


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path``; None when it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text("utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def adapter_record(home: Path, name: str) -> dict[str, Any] | None:
    """How the adapter ``name`` in ``home`` was trained, or None."""
    return read_record(adapter_meta_path(home, name))


def exported_training(model_id: str) -> dict[str, Any] | None:
    """The record a merged export (``harness finetune export --format merged``) carries in
    the folder of ``local:FOLDER``, naming the adapter it was made from; else None."""
    provider, _, name = model_id.partition(":")
    if provider != "local" or "+" in name or not name:
        return None
    data = read_record(Path(name).expanduser() / RECORD_FILE)
    exported = data.get("exported_from") if data is not None else None
    if not isinstance(exported, str) or not ADAPTER_NAME.fullmatch(exported):
        return None
    return data
