"""The README's example provider, installed for real and used by an experiment.

Installed with pip into a folder of its own (not this environment), then the ``harness``
command runs in a child process with that folder on its path: the entry point is found the
way a user's ``pip install`` makes it found.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "examples" / "provider_plugin"
EXPERIMENT = """name: echo
models:
  - id: echo:loud
    case: upper
    prefix: "> "
  - echo:plain
prompts: [{{id: p, user: "{{{{ word }}}}"}}]
tests:
  items: [{{word: hello}}, {{word: world}}]
  assert: [{{equals: "> {{{{ word | upper }}}}"}}]
{extra}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plug-in built and installed (no dependencies: the harness is already here)."""
    root = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, root / "src")  # the build writes beside its sources
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert any(target.glob("harness_echo-*.dist-info/entry_points.txt"))
    return target


def harness(site: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    env["HARNESS_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_installed_plugin_runs_an_experiment(site: Path, tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(EXPERIMENT.format(extra=""), "utf-8")
    done = harness(site, tmp_path, "run", "e.yaml", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rates = {row["id"]: row["pass_rate"] for row in report["variants"]}
    assert rates == {"p/k0/echo:loud": 1.0, "p/k0/echo:plain": 0.0}
    outputs = {(c["variant"], c["case"]): c["output"] for c in report["cases"]}
    assert outputs[("p/k0/echo:loud", "1")] == "> HELLO"
    assert outputs[("p/k0/echo:plain", "2")] == "world"


def test_an_option_typo_is_reported_at_its_line(site: Path, tmp_path: Path) -> None:
    text = EXPERIMENT.format(extra="").replace("case: upper", "cse: upper")
    (tmp_path / "e.yaml").write_text(text, "utf-8")
    done = harness(site, tmp_path, "validate", "e.yaml")
    assert done.returncode == 2
    assert "e.yaml:4:5: error: unknown key 'cse'; did you mean 'case'?" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_option_of_the_wrong_value_is_reported_at_its_line(site: Path, tmp_path: Path) -> None:
    text = EXPERIMENT.format(extra="").replace("case: upper", "case: shouting")
    (tmp_path / "e.yaml").write_text(text, "utf-8")
    done = harness(site, tmp_path, "validate", "e.yaml")
    assert done.returncode == 2
    assert re.search(r"e\.yaml:4:11: error: models\[0\]\.case: Input should be 'same'", done.stderr)


def test_the_readme_shows_the_plugin_as_it_is() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    marker = "<!-- examples/provider_plugin/harness_echo.py -->\n```python\n"
    shown = readme.split(marker, 1)[1].split("```\n", 1)[0]
    assert shown == (PLUGIN / "harness_echo.py").read_text("utf-8")
    project = (PLUGIN / "pyproject.toml").read_text("utf-8")
    entry_points = "[project.entry-points." + project.split("[project.entry-points.")[1]
    assert entry_points.split("\n\n")[0] in readme
