"""Loading Hugging Face models offline and quietly: the one place the harness does it.

Three parts of the harness load Hugging Face files: the local chat models
(:mod:`harness.models._local_engine`, and the GGUF conversion in ``_local_setup``), LoRA
training (:mod:`harness.finetune.lora`) and sentence embeddings
(:mod:`harness.shots.embedding`). They follow the same two rules, so the rules live here
rather than in three private copies:

* **Offline.** The harness never downloads a model; a hub id works only when it is already
  in the local Hugging Face cache. ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set
  before huggingface_hub, transformers or sentence-transformers is imported, because
  huggingface_hub reads them once, at import time.
* **Quiet.** A load prints nothing between the harness's own lines: no "Loading weights"
  progress bars, no third-party deprecation chatter (which the test suite, run with
  ``filterwarnings = error``, would also turn into failures), no library log warnings.

Nothing heavy is imported at module level: the callers import lazily, through here.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from types import ModuleType

__all__ = ["import_offline", "offline", "quiet"]

# `warnings.catch_warnings` and the progress-bar switch are process-wide state: two loads
# in two threads would restore each other's settings in the wrong order, so they take turns.
_QUIET_LOCK = threading.RLock()


def offline() -> None:
    """Switch off every model-hub access (before the Hugging Face libraries are imported)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def import_offline(name: str) -> ModuleType:
    """Import ``name`` (``transformers``, ``sentence_transformers``, ...) with the hub off.

    An ``ImportError`` propagates: each caller knows which extra to suggest installing.
    """
    offline()
    return importlib.import_module(name)


@contextlib.contextmanager
def quiet(loggers: Iterable[str] = ()) -> Iterator[None]:
    """Hide progress bars, library deprecation warnings and the named loggers' warnings.

    ``loggers`` are standard-library logger names (e.g. ``"sentence_transformers"``) raised
    to ERROR for the duration; transformers' own logger keeps its level, so a real problem
    with a model (weights that do not fit it) is still reported.
    """
    transformers = import_offline("transformers")
    progress = transformers.utils.logging
    with _QUIET_LOCK:
        was_enabled = bool(progress.is_progress_bar_enabled())
        progress.disable_progress_bar()
        muted = [logging.getLogger(name) for name in loggers]
        levels = [logger.level for logger in muted]
        for logger in muted:
            logger.setLevel(max(logger.getEffectiveLevel(), logging.ERROR))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                yield
        finally:
            for logger, level in zip(muted, levels, strict=True):
                logger.setLevel(level)
            if was_enabled:
                progress.enable_progress_bar()
