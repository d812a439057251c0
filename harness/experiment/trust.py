"""What an experiment file may do on its own, and what needs the user's consent.

Experiment files get shared: a file received from someone else must not run code, read
files outside its project, or send the user's secrets anywhere unless the user says so on
the command line. The defaults here are that safe floor; each flag lifts one limit.

- ``python`` checks import code the file names: ``--allow-python``.
- Files are read only inside the experiment's *project*: the nearest folder above the
  experiment file holding ``.git``, ``pyproject.toml`` or ``harness.toml``, else the
  file's own folder (symlinks resolved). Anything else: ``--allow-outside-files``.
  That includes model files: a ``local:`` model, a fine-tune's base, a judge or an
  ``embedding_model`` given as a path (a folder or ``.gguf`` file, relative paths from
  the working directory, as the model loader reads them) or an adapter given as a folder
  after ``+``. Names (``smollm2``, an adapter trained here) and hub ids (read from the
  user's own cache) read nothing the file chose.
- ``api_key_env`` may name only variables that look like API keys (``*_API_KEY``,
  ``*_API_TOKEN``); any other variable: ``--allow-env NAME``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.experiment.schema import ExperimentSpec

__all__ = [
    "PROJECT_MARKERS",
    "Trust",
    "key_destinations",
    "local_model_paths",
    "model_path",
    "project_root",
]

PROJECT_MARKERS = (".git", "pyproject.toml", "harness.toml")
_KEY_NAME = re.compile(r"[A-Z][A-Z0-9_]*_API_(KEY|TOKEN)")


@dataclass(frozen=True)
class Trust:
    """The user's consent, from command-line flags (never from the experiment file)."""

    python: bool = False
    outside_files: bool = False
    env: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls, *, python: bool = False, outside_files: bool = False, env: Iterable[str] = ()
    ) -> Trust:
        return cls(python, outside_files, frozenset(env))

    def env_problem(self, name: str) -> str | None:
        """Why a file may not send variable ``name`` as an API key, or None."""
        if _KEY_NAME.fullmatch(name) or name in self.env:
            return None
        return (
            f"api_key_env names {name!r}, which does not look like an API key (*_API_KEY, "
            f"*_API_TOKEN); a shared file could send it anywhere. Pass --allow-env {name} "
            "if you mean it"
        )


def project_root(experiment: Path) -> Path:
    """The folder an experiment may read files from (see the module docstring)."""
    folder = experiment.resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return folder


def outside_problem(target: Path, root: Path, trust: Trust, what: str) -> str | None:
    """Why ``target`` may not be read, or None when it lies inside ``root`` (or is allowed)."""
    if trust.outside_files:
        return None
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, NUL bytes
        return f"{what} cannot be resolved: {exc}"
    if resolved == root or root in resolved.parents:
        return None
    return (
        f"{what} is outside this experiment's project ({root}); a shared file may not read "
        "it. Pass --allow-outside-files if you mean it"
    )


def key_destinations(spec: ExperimentSpec) -> list[str]:
    """For each model whose address the file sets: which key would be sent there."""
    lines = []
    for model in spec.models:
        options = model.options
        if options.get("base_url") is None or model.ref.provider != "openai":
            continue
        if options.get("api_key") is not None:
            source = "the key written in the file"
        elif options.get("api_key_env"):
            source = f"${options['api_key_env']}"
        elif os.environ.get("OPENAI_API_KEY"):
            source = "$OPENAI_API_KEY (your key)"
        else:
            source = "no key"
        lines.append(f"{model.key} sends {source} to {options['base_url']}")
    return lines


def model_path(name: str) -> Path | None:
    """The file or folder a model name reads when it is a path (see the module docstring),
    else None for a name or hub id."""
    if not name:
        return None
    path = Path(name).expanduser()
    if name.startswith(("/", "~", ".", "\\")) or name.endswith(".gguf"):
        return path
    try:
        return path if path.exists() else None
    except (OSError, ValueError):  # NUL bytes, names too long: not a hub id either
        return path


def local_model_paths(model_id: str) -> list[Path]:
    """The paths a ``local:BASE[+ADAPTER]`` model reads (none for other providers)."""
    provider, _, name = model_id.partition(":")
    if provider != "local":
        return []
    base, _, adapter = name.partition("+")
    return [p for p in (model_path(base), model_path(adapter)) if p is not None]
