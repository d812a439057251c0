"""pytest plugin: experiment files collected as tests, one item per variant.

Installed through the ``pytest11`` entry point. A YAML file is collected when it matches
the ``harness_files`` ini globs or, without them, when it looks like an experiment (top-level
``prompts:`` / ``tests:``); anything else is left to other plugins. All variants of a file
share one run (the first item to run triggers it), through ``harness.run``: the same
pipeline, cache and run records as ``harness run``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from harness.errors import ExitCode, HarnessError

if TYPE_CHECKING:
    from harness import RunResult
    from harness.experiment.trust import Trust
    from harness.report.summary import VariantSummary
    from harness.results import Result

__all__ = ["ExperimentFile", "VariantItem"]

_MAX_FAILURES_SHOWN = 5


@dataclass
class _State:
    selected: dict[Path, set[str]] = field(default_factory=dict)
    outcomes: dict[Path, RunResult] = field(default_factory=dict)
    failures: dict[Path, BaseException] = field(default_factory=dict)


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "prompt experiments (harness)")
    group.addoption(
        "--harness-model",
        action="append",
        default=[],
        metavar="MODEL",
        help="Run experiments against this model instead (repeatable).",
    )
    group.addoption(
        "--harness-no-cache", action="store_true", help="Do not read or write the response cache."
    )
    group.addoption(
        "--harness-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="Requests in flight per model.",
    )
    group.addoption(
        "--harness-per-case",
        action="store_true",
        help="One test item per (variant, case) instead of per variant.",
    )
    group.addoption(
        "--harness-strict",
        action="store_true",
        help="A variant passes only if the lower bound of its 95%% interval meets min_pass_rate.",
    )
    group.addoption(
        "--harness-home",
        default=None,
        metavar="DIR",
        help="Harness home for cache and run records.",
    )
    group.addoption(
        "--harness-allow-python",
        action="store_true",
        help="Allow `python` checks, which run code named by the experiment.",
    )
    group.addoption(
        "--harness-allow-outside-files",
        action="store_true",
        help="Allow experiments to read files outside their project folder.",
    )
    group.addoption(
        "--harness-allow-env",
        action="append",
        default=[],
        metavar="NAME",
        help="Allow api_key_env to name this variable (repeatable).",
    )
    parser.addini(
        "harness_files",
        type="args",
        default=[],
        help="Globs of experiment files to collect (default: by shape).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness: a prompt experiment variant")
    config.addinivalue_line("markers", "slow: a slow test (e.g. runs a local model)")
    config.stash[_STATE] = _State()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ExperimentFile | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    globs: list[str] = parent.config.getini("harness_files")
    if globs:
        rel = (
            file_path.relative_to(parent.config.rootpath).as_posix()
            if file_path.is_relative_to(parent.config.rootpath)
            else file_path.as_posix()
        )
        if not any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(file_path.name, g) for g in globs):
            return None
    else:
        from harness.experiment.load import looks_like_experiment

        if not looks_like_experiment(file_path):
            return None
    return ExperimentFile.from_parent(parent, path=file_path)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember which variants survived -k/-m selection: only those are run."""
    state = config.stash[_STATE]
    state.selected.clear()
    for item in items:
        if isinstance(item, (VariantItem, CaseItem)):
            state.selected.setdefault(item.path, set()).add(item.variant_id)


class ExperimentFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness import select_variants
        from harness.errors import ExperimentError
        from harness.experiment import load_experiment

        config = self.config
        try:
            exp = load_experiment(self.path, trust=_trust(config))
            variants = select_variants(
                exp, models=config.getoption("harness_model"), home=config.getoption("harness_home")
            )
        except ExperimentError as exc:
            raise self.CollectError(
                "\n".join(str(p) for p in exc.problems if p.severity == "error")
            ) from None
        except HarnessError as exc:
            raise self.CollectError(str(exc)) from None
        per_case = config.getoption("harness_per_case")
        for variant in variants:
            if per_case:
                for case in exp.cases:
                    yield CaseItem.from_parent(
                        self,
                        name=f"{variant.id}::{case.id}",
                        variant_id=variant.id,
                        case_id=case.id,
                    )
            else:
                yield VariantItem.from_parent(self, name=variant.id, variant_id=variant.id)


class _HarnessItem(pytest.Item):
    def __init__(self, *, variant_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.variant_id = variant_id
        self.add_marker("harness")
        if "local:" in variant_id:
            self.add_marker("slow")

    def outcome(self) -> RunResult:
        """The shared run of this file's selected variants (run once, by the first item)."""
        state = self.config.stash[_STATE]
        if self.path in state.failures:
            raise state.failures[self.path]
        if self.path not in state.outcomes:
            from harness import run

            config = self.config
            selected = tuple(sorted(state.selected.get(self.path, {self.variant_id})))
            try:
                state.outcomes[self.path] = run(
                    self.path,
                    variants=selected,
                    models=config.getoption("harness_model"),
                    home=config.getoption("harness_home"),
                    concurrency=config.getoption("harness_concurrency"),
                    use_cache=not config.getoption("harness_no_cache"),
                    progress=False,
                    trust=_trust(config),
                )
            except Exception as exc:
                state.failures[self.path] = exc
                raise
        return state.outcomes[self.path]

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"variant {self.variant_id}"


class VariantFailure(HarnessError):
    """A variant missed its threshold or had failed requests: a failed test, not a crash."""

    exit_code: ClassVar[int] = ExitCode.THRESHOLD_MISSED


class VariantItem(_HarnessItem):
    def runtest(self) -> None:
        outcome = self.outcome()
        if outcome.aborted:
            raise VariantFailure(f"the run was aborted: {outcome.aborted}")
        summary, split = _numbers_for(outcome, self.variant_id)
        results = [r for r in outcome.results if r.variant == self.variant_id and r.split == split]
        self.user_properties.append(("pass_rate", round(summary.rate.rate, 4)))
        if split is not None:
            self.user_properties.append(("split", split))
        if summary.errors:
            raise VariantFailure(_errors_report(summary, results))
        threshold = summary.threshold
        if threshold is None:
            return
        measured = (
            summary.rate.low if self.config.getoption("harness_strict") else summary.rate.rate
        )
        if measured < threshold:
            raise VariantFailure(_failure_report(summary, results, outcome, self.config))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, VariantFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class CaseItem(_HarnessItem):
    def __init__(self, *, case_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case_id = case_id

    def runtest(self) -> None:
        outcome = self.outcome()
        mine = [
            r for r in outcome.results if r.variant == self.variant_id and r.case == self.case_id
        ]
        if not mine and outcome.split and not outcome.aborted:
            pytest.skip(
                "held-out case of a variant the dev cases did not choose (held-out cases "
                "run for the dev winner, its ties and the baseline)"
            )
        if not mine:
            raise VariantFailure(
                f"no result for case {self.case_id} (run aborted: {outcome.aborted})"
            )
        bad = [r for r in mine if r.passed is not True]
        if bad:
            exp = outcome.experiment
            raise VariantFailure("\n".join(_case_lines(r, exp.case(r.case).vars) for r in bad))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, VariantFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


def _clip(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _case_lines(r: Result, case_vars: Any) -> str:
    lines = [f"  case {r.case}" + (f" (repeat {r.repeat})" if r.repeat else "") + ":"]
    if "input" in case_vars:
        lines.append(f"    input:  {_clip(case_vars['input'])}")
    if r.error:
        lines.append(f"    error:  {r.error}")
        return "\n".join(lines)
    lines.append(f"    output: {_clip(r.output)}")
    for check in r.checks:
        if not check.passed:
            lines.append(f"    ✗ {check.name}: {check.reason[:200]}")
    return "\n".join(lines)


def _numbers_for(outcome: RunResult, variant_id: str) -> tuple[VariantSummary, str | None]:
    """A variant's summary and the split it is on: the held-out number when the variant
    has one (a split run's answer), else its dev number, else the unsplit run's."""
    try:
        return outcome.summary.get(variant_id), outcome.summary.split
    except KeyError:
        if outcome.selection is None:
            raise
        return outcome.selection.get(variant_id), outcome.selection.split


_SPLIT_NAMES = {"dev": "dev (selection) cases", "heldout": "held-out cases"}


def _failure_report(
    summary: VariantSummary, results: list[Result], outcome: RunResult, config: pytest.Config
) -> str:
    rate = summary.rate
    strict = config.getoption("harness_strict")
    what = "lower bound of the 95% interval" if strict else "pass rate"
    failed = [r for r in results if r.passed is False]
    split = next((r.split for r in results if r.split is not None), None)
    cases = _SPLIT_NAMES.get(split or "", "cases")
    head = (
        f"{summary.variant.id}: {what} below min_pass_rate {100 * (summary.threshold or 0):.1f}%\n"
        f"  pass rate {100 * rate.rate:.1f}% [95% CI {100 * rate.low:.1f}–{100 * rate.high:.1f}] "
        f"over {rate.cases} {cases}; {len(failed)} failed\n"
        f"failing cases ({min(len(failed), _MAX_FAILURES_SHOWN)} of {len(failed)} shown):"
    )
    exp = outcome.experiment
    body = [_case_lines(r, exp.case(r.case).vars) for r in failed[:_MAX_FAILURES_SHOWN]]
    tail = f"\n(full results: harness show {outcome.run_id} --failures --variant '{summary.variant.id}')"
    return "\n".join([head, *body]) + tail


def _errors_report(summary: VariantSummary, results: list[Result]) -> str:
    errors = [r for r in results if r.error]
    shown = "\n".join(f"  case {r.case}: {r.error}" for r in errors[:_MAX_FAILURES_SHOWN])
    return (
        f"{summary.variant.id}: {len(errors)} result(s) could not be scored (request or "
        f"check errors, not check failures):\n{shown}"
    )


def _trust(config: pytest.Config) -> Trust:
    from harness.experiment.trust import Trust

    return Trust.of(
        python=bool(config.getoption("harness_allow_python")),
        outside_files=bool(config.getoption("harness_allow_outside_files")),
        env=config.getoption("harness_allow_env") or (),
    )


@pytest.fixture
def harness_run(request: pytest.FixtureRequest) -> Any:
    """``harness_run(path, variants=...)`` using this session's harness options."""
    from harness.testing import harness_run as run

    config = request.config
    home = config.getoption("harness_home")

    def _run(path: str | Path, **kwargs: Any) -> Any:
        kwargs.setdefault("models", tuple(config.getoption("harness_model")))
        kwargs.setdefault("use_cache", not config.getoption("harness_no_cache"))
        kwargs.setdefault("concurrency", config.getoption("harness_concurrency"))
        kwargs.setdefault("home", home)
        kwargs.setdefault("trust", _trust(config))
        return run(path, **kwargs)

    return _run
