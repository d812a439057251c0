"""The public Python API for running: ``harness.run``, ``harness.estimate`` and their records.

The CLI, the testing API and the pytest plugin are built on this API alone, so these tests
also pin what they rely on: the same numbers as ``harness run --dry-run``, the same run
records as ``harness run``, and no imports of the private run machinery.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import harness
import harness.testing
from harness import Trust, load_experiment
from tests.conftest import REPO, MakeExperiment, run_cli
from tests.openai_server import FakeOpenAIServer

CHAT = "/v1/chat/completions"
CHECKS = '  assert:\n    - equals: "{{ expected }}"\n'
# A one-item pool and shots 0 and 1: two variants, p/k0/MODEL and p/k1/first/MODEL.
TWO_SHOTS = (
    "examples:\n  items:\n    - {id: e1, input: 'pool 1', expected: 'echo: pool 1'}\n"
    "shots: [0, 1]\nselectors: [first]\n"
)


def test_run_returns_a_typed_record_of_the_run(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    path = make_experiment(6, extra=CHECKS + TWO_SHOTS + "min_pass_rate: 0.9\n")

    result = harness.run(path, home=home, progress=False)

    assert isinstance(result, harness.RunResult)
    assert result.experiment.path == path
    assert result.variants == ["p/k0/openai:echo-1", "p/k1/first/openai:echo-1"]
    assert len(result.results) == 12 and all(r.passed for r in result.results)
    assert (result.aborted, result.resumed_from, result.exit_code) == (None, None, 0)
    assert (result.stats.requested, result.stats.cached, result.stats.errors) == (12, 0, 0)
    assert server.count(path=CHAT) == 12
    assert result.run_dir == home.resolve() / "runs" / result.run_id
    assert (result.run_dir / "results.jsonl").is_file()
    assert result.curve_png is None or result.curve_png.is_file()
    assert result.best.id == result.summary.best == "p/k0/openai:echo-1"
    assert result.variant("p/k1/*").pass_rate == 1.0
    assert result.variant("p/k1/*").ci[1] == 1.0 and result.variant("p/k1/*").failures == []
    with pytest.raises(KeyError, match="matches 2 variants"):
        result.variant("p/*")

    # A lone string is one glob; the second run is answered from the cache.
    again = harness.run(path, variants="p/k0/*", home=str(home), progress=False)
    assert again.variants == ["p/k0/openai:echo-1"]
    assert (again.stats.requested, again.stats.cached) == (0, 6)
    assert again.run_id != result.run_id

    # The run is recorded like one made by `harness run`.
    code, out, _ = run_cli(["show", result.run_id, "--home", str(home)], capsys)
    assert code == 0 and "12 result(s) shown" in out


def test_exit_codes_follow_harness_run(
    make_experiment: MakeExperiment, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    failing = make_experiment(4, extra='  assert:\n    - equals: "nope"\nmin_pass_rate: 0.5\n')
    result = harness.run(failing, home=tmp_path / "home", progress=False)
    assert result.exit_code == 1
    assert [v.variant.id for v in result.summary.failing] == ["p/k0/openai:echo-1"]
    assert len(result.variant("p/k0/*").failures) == 4

    priced = make_experiment(4, model="openai:gpt-4o-mini", extra=CHECKS, name="priced.yaml")
    stopped = harness.run(priced, home=tmp_path / "home", max_cost=0.0, progress=False)
    assert stopped.aborted and stopped.exit_code == 3
    assert server.count(path=CHAT) == 4  # the failing run's; the budget stopped the other


def test_estimate_matches_the_dry_run_table(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make_experiment(5, model="openai:gpt-4o-mini", extra=TWO_SHOTS)

    estimate = harness.estimate(path, repeats=2, home=tmp_path)
    code, out, err = run_cli(
        ["run", str(path), "--dry-run", "--repeats", "2", "--home", str(tmp_path)], capsys
    )

    assert code == 0
    printed = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert list(printed) == [e.variant for e in estimate.variants] + ["total"]
    for e in estimate.variants:
        assert e.cost is not None and e.tokens_exact
        expected = [e.requests, e.prompt_tokens, e.max_completion_tokens, f"{e.cost:.4f}"]
        assert printed[e.variant] == [str(x) for x in expected]
    totals = [
        estimate.requests,
        estimate.prompt_tokens,
        estimate.max_completion_tokens,
        f"{estimate.cost:.4f}",
    ]
    assert printed["total"] == [str(x) for x in totals]
    assert (estimate.requests, estimate.max_completion_tokens) == (20, 20 * 8)  # 2 x 5 x 2
    assert estimate.unpriced == []
    assert len(estimate.key_destinations) == 1
    assert err.splitlines() == [f"note: {line}" for line in estimate.key_destinations]
    assert server.count(path=CHAT) == 0


def test_estimate_of_an_unpriced_model(make_experiment: MakeExperiment, tmp_path: Path) -> None:
    estimate = harness.estimate(load_experiment(make_experiment(3)), home=tmp_path)
    (only,) = estimate.variants
    assert (only.variant, only.requests, only.cost) == ("p/k0/openai:echo-1", 3, None)
    assert estimate.cost == 0.0 and estimate.unpriced == ["p/k0/openai:echo-1"]


def test_select_variants_applies_models_and_globs(
    make_experiment: MakeExperiment, tmp_path: Path
) -> None:
    path = make_experiment(2, extra=TWO_SHOTS)
    chosen = harness.select_variants(path, variants="*/k1/*", models=["openai:other"])
    assert [v.id for v in chosen] == ["p/k1/first/openai:other"]
    with pytest.raises(harness.HarnessError, match="no variant matches"):
        harness.select_variants(path, variants="nothing/*")


def test_trust_applies_when_loading(make_experiment: MakeExperiment) -> None:
    path = make_experiment(2, extra="  assert:\n    - python: mod:fn\n")
    with pytest.raises(harness.ExperimentError):
        harness.estimate(path)
    exp = load_experiment(path, trust=Trust(python=True))
    with pytest.raises(TypeError, match="load_experiment"):
        harness.run(exp, trust=Trust(python=True))
    assert harness.select_variants(path, allow_python=True)


def test_testing_api_is_the_same_record() -> None:
    assert harness.testing.RunResult is harness.RunResult
    assert harness.testing.VariantResult is harness.VariantResult


# What must reach the run machinery only through the public API above.
CLIENTS = [
    *sorted((REPO / "harness" / "_cli").glob("*.py")),
    REPO / "harness" / "testing.py",
    REPO / "harness" / "pytest_plugin.py",
]


def _private_run_imports(source: str, package: str) -> list[str]:
    """Every import of ``harness._run`` in a module of ``package``, type-checking-only too."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's package
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]  # importlib.import_module("harness._run...") and the like
        line = getattr(node, "lineno", 0)
        found += [f"line {line}: {name}" for name in names if _is_private(name)]
    return found


def _is_private(name: str) -> bool:
    return name == "harness._run" or name.startswith("harness._run.")


@pytest.mark.parametrize("path", CLIENTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_clients_use_only_the_public_api(path: Path) -> None:
    package = ".".join(path.relative_to(REPO).parts[:-1])
    assert _private_run_imports(path.read_text("utf-8"), package) == []


def test_the_boundary_check_sees_private_imports() -> None:
    source = (
        "from harness._run.pipeline import run_experiment\n"
        "import harness._run.cache\n"
        "from harness import _run\n"
        "from .._run import api\n"
        "if TYPE_CHECKING:\n"
        "    from harness._run.runner import RunStats\n"
        "from harness import run\n"
        "from .common import home_option\n"
    )
    found = _private_run_imports(source, "harness._cli")
    assert sorted({line.split(":")[0] for line in found}) == [f"line {n}" for n in (1, 2, 3, 4, 6)]


def test_import_harness_stays_cheap() -> None:
    code = (
        "import sys, harness, harness._cli.main\n"
        "loaded = [m for m in ('harness._run.api', 'harness._run.pipeline', 'numpy') "
        "if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert callable(harness.run) and 'harness._run.api' in sys.modules\n"
        "assert 'harness._run.pipeline' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
