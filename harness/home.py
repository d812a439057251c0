"""Where the harness keeps caches, run records and converted models."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["harness_home"]


def harness_home(override: str | os.PathLike[str] | None = None) -> Path:
    """The harness home: ``override``, else ``$HARNESS_HOME``, else ``./.harness``.

    The directory is created on first use so callers can write into it directly.
    """
    raw = override or os.environ.get("HARNESS_HOME") or ".harness"
    path = Path(raw).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
