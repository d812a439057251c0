"""Bring suites written for other tools in: OpenAI Evals and promptfoo.

Each importer returns an :class:`ImportedSuite` (the experiment, its data files and what
could not be carried over, located in the source); :func:`import_suite` writes it.
"""

from __future__ import annotations

from pathlib import Path

from harness.importers._common import ImportedSuite, write_suite
from harness.importers.openai_evals import import_openai_evals
from harness.importers.promptfoo import import_promptfoo

__all__ = [
    "ImportedSuite",
    "import_openai_evals",
    "import_promptfoo",
    "import_suite",
    "write_suite",
]


def import_suite(
    kind: str,
    source: Path,
    out_dir: Path,
    *,
    eval_id: str | None = None,
    registry_data: Path | None = None,
) -> tuple[ImportedSuite, Path]:
    """Import ``source`` (``kind``: ``openai-evals`` or ``promptfoo``) into ``out_dir``; the suite and its path.

    The written experiment is validated before this returns, so what it reports is what
    ``harness validate`` would say.
    """
    from harness.experiment import load_experiment

    if kind == "openai-evals":
        suite = import_openai_evals(source, eval_id=eval_id, registry_data=registry_data)
    elif kind == "promptfoo":
        suite = import_promptfoo(source)
    else:
        raise ValueError(f"unknown importer {kind!r}")
    path = write_suite(suite, out_dir)
    # Validation checks shapes and never imports a `python` check's module, so the import
    # may check a suite that uses one; running it still needs the user's --allow-python.
    load_experiment(path, allow_python=True)
    return suite, path
