"""How long `harness validate` takes on 10,000 cases x 4 prompts (goal: a few seconds).

Writes a synthetic experiment to a temporary folder, then times validation in-process
(parse, schema, data, rules, every template rendered against every case) and as the
real command (`harness validate`, including interpreter start-up).

    .venv/bin/python benchmarks/validate_scale.py [--cases 10000] [--prompts 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_experiment(folder: Path, cases: int, prompts: int, pool: int) -> Path:
    with (folder / "cases.jsonl").open("w") as f:
        for i in range(cases):
            row = {
                "id": f"c{i}",
                "input": f"the {i % 28 + 1}th of March {1900 + i % 120}",
                "expected": f"{1900 + i % 120}-03-{i % 28 + 1:02d}",
            }
            f.write(json.dumps(row) + "\n")
    with (folder / "pool.jsonl").open("w") as f:
        for i in range(pool):
            row = {
                "id": f"p{i}",
                "input": f"May {i % 28 + 1}, {1950 + i}",
                "expected": f"{1950 + i}-05-{i % 28 + 1:02d}",
                "label": f"l{i % 4}",
            }
            f.write(json.dumps(row) + "\n")
    prompt_lines = "\n".join(
        f"  - id: p{j}\n    system: Variant {j}. Convert the date to ISO 8601.\n"
        f'    user: "Date: {{{{ input }}}} ({j})"'
        for j in range(prompts)
    )
    path = folder / "scale.yaml"
    path.write_text(
        "name: scale\nprompts:\n" + prompt_lines + "\n"
        "examples: {file: pool.jsonl, balance_on: label}\n"
        "shots: [0, 3, 8]\nselectors: [random, balanced, similar]\nseeds: [0, 1]\n"
        'tests:\n  file: cases.jsonl\n  assert:\n    - equals: "{{ expected }}"\n'
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--pool", type=int, default=100)
    args = parser.parse_args()

    from harness.experiment import validate_experiment

    with tempfile.TemporaryDirectory() as tmp:
        path = write_experiment(Path(tmp), args.cases, args.prompts, args.pool)
        start = time.perf_counter()
        result = validate_experiment(path)
        in_process = time.perf_counter() - start
        assert result.ok, result.problems[:3]
        exp = result.experiment
        assert exp is not None
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "validate", str(path)], capture_output=True, text=True
        )
        command = time.perf_counter() - start
        assert proc.returncode == 0, proc.stderr
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True)
        startup = time.perf_counter() - start
    renders = args.cases * args.prompts * 2 + args.cases  # system+user per prompt, assertion
    print(
        f"cases={args.cases} prompts={args.prompts} pool={args.pool} "
        f"variants={len(exp.variants)} requests={len(exp.variants) * len(exp.cases)}"
    )
    print(f"validate in-process: {in_process:.2f} s ({renders / in_process:,.0f} renders/s)")
    print(f"harness validate (command): {command:.2f} s; bare start-up {startup:.2f} s")


if __name__ == "__main__":
    main()
