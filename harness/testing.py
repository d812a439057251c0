"""A Python API for tests written as code: run an experiment, then assert on its variants.

    from harness.testing import harness_run

    def test_dates():
        result = harness_run("experiments/date_iso.yaml", variants="terse/*")
        assert result.variant("terse/k3/similar/local:smollm2").pass_rate >= 0.8

The pytest plugin also provides ``harness_run`` as a fixture that honours its command-line
options (``--harness-model``, ``--harness-no-cache``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.experiment.trust import Trust
from harness.report.summary import Summary, VariantSummary
from harness.results import Result

__all__ = ["RunResult", "VariantResult", "harness_run"]


@dataclass(frozen=True)
class VariantResult:
    """One variant's numbers, named for assertions."""

    summary: VariantSummary
    results: tuple[Result, ...]

    @property
    def id(self) -> str:
        return self.summary.variant.id

    @property
    def pass_rate(self) -> float:
        return self.summary.rate.rate

    @property
    def ci(self) -> tuple[float, float]:
        return self.summary.rate.low, self.summary.rate.high

    @property
    def errors(self) -> int:
        return self.summary.errors

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.passed is not True]


@dataclass(frozen=True)
class RunResult:
    summary: Summary
    results: tuple[Result, ...]
    run_id: str
    aborted: str | None

    @property
    def variants(self) -> list[str]:
        return [v.variant.id for v in self.summary.variants]

    @property
    def best(self) -> VariantResult:
        assert self.summary.best is not None, "no variant produced a result"
        return self.variant(self.summary.best)

    def variant(self, variant_id: str) -> VariantResult:
        """A variant by exact id, or by a glob matching exactly one variant."""
        import fnmatch

        matches = [
            v
            for v in self.summary.variants
            if v.variant.id == variant_id or fnmatch.fnmatchcase(v.variant.id, variant_id)
        ]
        if len(matches) != 1:
            raise KeyError(f"{variant_id!r} matches {len(matches)} variants: {self.variants}")
        vid = matches[0].variant.id
        return VariantResult(matches[0], tuple(r for r in self.results if r.variant == vid))


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
    from harness._run.pipeline import RunOptions, run_experiment
    from harness.experiment import load_experiment

    patterns = (variants,) if isinstance(variants, str) else tuple(variants)
    options = RunOptions(
        variants=patterns,
        models=tuple(models),
        use_cache=use_cache,
        concurrency=concurrency,
        home=Path(home) if home else None,
        progress=False,
    )
    exp = load_experiment(path, allow_python=allow_python, trust=trust)
    outcome = run_experiment(exp, options)
    return RunResult(outcome.summary, tuple(outcome.results), outcome.run.id, outcome.aborted)
