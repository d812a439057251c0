"""Which shot selector picks examples like the case? A cheap proxy, no LLM needed.

For every shipped experiment (``experiments/*.yaml``) whose cases and pool items carry a
label field (``--field``, default ``label``), each test case gets ``k`` shots from each
selector: ``random`` (seed 0), ``similar`` with BM25 and ``similar`` with embeddings. The
table gives, per experiment and selector:

* ``hit@k``: share of cases whose shots include at least one example with the case's label;
* ``same-label``: share of all shown shots that have the case's label;
* ``nearest``: share of cases whose most prominent shot (the last one) has the case's label;
* ``build s``: time to prepare the selector (BM25 index; embedding model load and pool
  embedding, or the on-disk cache).

Real pass rates come from running the experiments; this only shows whether a selector
finds examples of the same kind.

    .venv/bin/python benchmarks/shot_selection_quality.py [--k 3] [--field label]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tabulate import tabulate

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.experiment import load_experiment  # noqa: E402
from harness.experiment.schema import SelectorSpec  # noqa: E402
from harness.shots import build_selector  # noqa: E402

SELECTORS = {
    "random (seed 0)": {"random": None},
    "similar bm25": {"similar": {"method": "bm25"}},
    "similar embedding": {"similar": {"method": "embedding"}},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=3, help="shots per case (default 3)")
    parser.add_argument("--field", default="label", help="label field compared (default label)")
    parser.add_argument("experiments", nargs="*", type=Path, help="default: experiments/*.yaml")
    args = parser.parse_args()
    paths = args.experiments or sorted((REPO / "experiments").glob("*.yaml"))

    rows: list[list[object]] = []
    skipped: list[str] = []
    for path in paths:
        experiment = load_experiment(path)
        spec = experiment.spec
        if spec.examples is None or not experiment.pool:
            skipped.append(f"{experiment.name}: no example pool")
            continue
        field = args.field
        cases = [c for c in experiment.cases if field in c.vars]
        if not cases or not all(field in p.vars for p in experiment.pool):
            skipped.append(f"{experiment.name}: cases or pool items lack {field!r}")
            continue
        labels = {str(p.vars[field]) for p in experiment.pool}
        for name, raw in SELECTORS.items():
            start = time.perf_counter()
            selector = build_selector(
                SelectorSpec.model_validate(raw),
                experiment.pool,
                match_on=spec.examples.match_on,
            )
            build = time.perf_counter() - start
            hits = same = shown = nearest = 0
            for case in cases:
                want = str(case.vars[field])
                shots = selector.select(case, args.k, 0)
                matches = [str(s.vars[field]) == want for s in shots]
                hits += any(matches)
                same += sum(matches)
                shown += len(matches)
                nearest += bool(matches and matches[-1])
            rows.append(
                [
                    experiment.name,
                    f"{len(cases)} / {len(experiment.pool)} / {len(labels)}",
                    name,
                    f"{hits / len(cases):.2f}",
                    f"{same / max(shown, 1):.2f}",
                    f"{nearest / len(cases):.2f}",
                    f"{build:.2f}",
                ]
            )

    headers = ["experiment", "cases / pool / labels", "selector", f"hit@{args.k}"]
    headers += ["same-label", "nearest", "build s"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    for line in skipped:
        print(f"skipped {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
