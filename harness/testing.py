"""A Python API for tests written as code: run an experiment, then assert on its variants.

    from harness.testing import harness_run

    def test_dates():
        result = harness_run("experiments/date_iso.yaml", variants="terse/*")
        assert result.variant("terse/k3/similar/local:smollm2").pass_rate >= 0.8

``harness_run`` is :func:`harness.run` with test-friendly defaults (no progress bar); its
result is the same public :class:`harness.RunResult`. The pytest plugin also provides
``harness_run`` as a fixture that honours its command-line options (``--harness-model``,
``--harness-no-cache``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness import RunResult, VariantResult, run
from harness.experiment.trust import Trust

__all__ = ["RunResult", "VariantResult", "harness_run"]


def harness_run(
    path: str | Path,
    *,
    variants: str | Sequence[str] = (),
    models: Sequence[str] = (),
    use_cache: bool = True,
    concurrency: int | None = None,
    home: str | Path | None = None,
    allow_python: bool = False,
    trust: Trust | None = None,
) -> RunResult:
    """Run an experiment file through the same pipeline as ``harness run``.

    ``trust`` lifts the limits on what the file may do (``allow_python`` is shorthand).
    """
    return run(
        path,
        variants=variants,
        models=models,
        use_cache=use_cache,
        concurrency=concurrency,
        home=home,
        progress=False,
        trust=trust,
        allow_python=allow_python,
    )
