"""The embedded model on the flagship experiment: wall time, tokens/s, peak memory, answers.

Runs ``harness run experiments/date_iso.yaml`` (or, with ``--decide``, ``harness decide
experiments/date_finetune.yaml``: LoRA training, then both models) once per configuration, each in its own
process with a fresh harness home (so model conversion is included, as for a new user),
and prints for each: wall time, prompt and generated tokens (from the run's results) and
their rates over the wall time, the peak resident memory of the process (ru_maxrss), each
variant's pass rate, and how many outputs differ from the first configuration's. The
ratio to the first configuration is measured in the same invocation, so it holds on a
noisy machine where absolute times swing 2-3x.

A configuration is ``NAME[@REVISION][:VAR=VALUE,...]``: the harness of this working tree,
or of a git revision (extracted with ``git archive`` into a temporary folder and run from
there, so an old engine and the new one meet in one invocation), with environment
settings. The default compares the engine before prefix reuse and sorted batches
(``before@daf1de9``, one torch thread, its default) with this tree's (its default threads):

    .venv/bin/python benchmarks/flagship_engine.py                         # before vs now
    .venv/bin/python benchmarks/flagship_engine.py now threads1:HARNESS_TORCH_THREADS=1
    .venv/bin/python benchmarks/flagship_engine.py --variant 'terse/k0/*'  # a quick subset
    .venv/bin/python benchmarks/flagship_engine.py --decide    # prompting vs fine-tuning

Tokens/s are the run's prompt and generated tokens over the whole wall time (loading and
conversion included): the engine interleaves the two, so they share that time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "date_iso.yaml"
DECIDE_EXPERIMENT = REPO / "experiments" / "date_finetune.yaml"


BEFORE = "daf1de9"  # the last commit before issue 13's engine work


def _source(revision: str, scratch: Path) -> Path:
    """A folder holding the harness of ``revision`` (this working tree when empty)."""
    if not revision:
        return REPO
    target = scratch / revision
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision, "harness"], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def _run(
    name: str, env_settings: dict[str, str], command: list[str], home: Path, code: Path
) -> dict:
    env = {**os.environ, **env_settings, "HARNESS_HOME": str(home), "PYTHONPATH": str(code)}
    args = [sys.executable, "-m", "harness", *command]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, env=env, cwd=code, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read()
    if proc.returncode not in (0, 1):
        sys.exit(f"{name}: harness {command[0]} failed ({proc.returncode}):\n{stderr[-2000:]}")
    (run,) = (home / "runs").iterdir()  # the run record: the same files in every revision
    cases = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    adapters = (home / "adapters").glob("*/harness.json")
    return {
        "name": name,
        "wall": wall,
        "training": sum(json.loads(meta.read_text())["seconds"] for meta in adapters),
        "peak_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
        "prompt": sum(c["prompt_tokens"] or 0 for c in cases),
        "generated": sum(c["completion_tokens"] or 0 for c in cases),
        "rates": {v["id"]: v["pass_rate"] for v in summary["variants"]},
        "outputs": {(c["variant"], c["case"], c["repeat"]): c["output"] for c in cases},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "configs",
        nargs="*",
        default=[f"before@{BEFORE}", "now"],
        help="NAME[@REVISION][:VAR=VALUE,...]",
    )
    parser.add_argument("--variant", action="append", default=[], help="variant glob")
    parser.add_argument(
        "--decide", action="store_true", help=f"harness decide {DECIDE_EXPERIMENT.name}"
    )
    options = parser.parse_args()
    experiment = DECIDE_EXPERIMENT if options.decide else EXPERIMENT
    command = ["decide", str(experiment)] if options.decide else ["run", str(experiment)]
    for pattern in options.variant:
        command += ["--variant", pattern]
    runs = []
    for spec in options.configs:
        label, _, settings = spec.partition(":")
        name, _, revision = label.partition("@")
        env = dict(kv.split("=", 1) for kv in settings.split(",") if kv)
        with tempfile.TemporaryDirectory(prefix="flagship-") as scratch:
            home = Path(scratch) / "home"
            code = _source(revision, Path(scratch))
            runs.append(_run(name, env, command, home, code))
        print(f"  {name}: {runs[-1]['wall']:.1f} s", file=sys.stderr)
    first = runs[0]
    print(
        f"harness {command[0]} {experiment.name}, {len(first['outputs'])} requests, fresh home each\n"
    )
    header = f"{'config':<12}{'wall s':>9}{'x first':>9}{'train s':>9}{'prompt tok/s':>14}"
    print(header + f"{'gen tok/s':>11}{'peak MB':>9}{'outputs differ':>16}")
    for r in runs:
        differ = sum(first["outputs"].get(k) != v for k, v in r["outputs"].items())
        peak = f"{r['peak_mb']:.0f}"
        print(
            f"{r['name']:<12}{r['wall']:>9.1f}{first['wall'] / r['wall']:>9.2f}{r['training']:>9.1f}"
            f"{r['prompt'] / r['wall']:>14.0f}{r['generated'] / r['wall']:>11.1f}"
            f"{peak:>9}{differ:>16}"
        )
    print("\npass rate by variant:")
    for variant in first["rates"]:
        cells = "  ".join(f"{r['name']} {100 * r['rates'].get(variant, 0):5.1f}%" for r in runs)
        print(f"  {variant:<40} {cells}")
    print(
        "\nTokens/s are over the whole wall time (conversion and loading included). Machines "
        "that share cores are noisy: compare the ratios, measured in this one invocation."
    )


if __name__ == "__main__":
    main()
