"""``EXP.optimized.yaml``: the search's result as an ordinary experiment file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.experiment import Experiment
from harness.optimize._plan import OPTIMIZED, SearchPlan
from harness.optimize._search import Tried

__all__ = ["write_optimized"]


class _Dumper(yaml.SafeDumper):
    """Writes scalars as the experiment loader reads them: every scalar is a string, so
    ``0.5`` and ``2019-10-24`` stay plain; only what would read as null is quoted."""


_Dumper.yaml_implicit_resolvers = {}


def _plain_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    quoted = value.strip().lower() in ("", "~", "null")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if quoted else None)


_Dumper.add_representer(str, _plain_str)


def _raw_entry(entries: Any, match: Callable[[Any], bool]) -> Any:
    return next(e for e in entries if match(e))


def write_optimized(
    exp: Experiment,
    plan: SearchPlan,
    candidates: int,
    best: Tried,
    ordinary: Sequence[Tried],
    path: Path,
) -> Path:
    """The experiment file of the result: the winning prompt with zero shots (the
    baseline), the found set as a ``fixed`` selector, and the file's own selectors (best
    on dev first)."""
    from harness.experiment import ModelSpec

    data = dict(exp.document.data)
    data["name"] = f"{exp.name}-optimized"
    data["prompts"] = [_raw_entry(data["prompts"], lambda e: e.get("id") == best.prompt)]
    data["models"] = [
        _raw_entry(data["models"], lambda e: ModelSpec.model_validate(e).key == plan.model)
    ]
    selectors: list[Any] = [{"name": "fixed", "id": OPTIMIZED, "ids": list(best.candidate.ids)}]
    for tried in ordinary:
        spec = tried.candidate.spec
        selectors.append(
            spec.model_dump(exclude_none=True, exclude_defaults=True) | {"name": spec.name}
        )
    best_selector = ordinary[0] if ordinary else None
    data.update(shots=["0", str(plan.k)], selectors=selectors, seeds=["0"])
    data["baseline"] = f"{best.prompt}/k0/{plan.model}"
    for key in ("finetune", "min_pass_rate", "rules"):
        data.pop(key, None)
    header = [
        f"# Written by `harness optimize` from {exp.path.name}: the fixed shots below",
        f"# ({OPTIMIZED}) passed {100 * best.pass_rate:.1f}% of {best.cases} dev cases, the best "
        f"of {candidates} candidates at k={plan.k}",
        f"# ({plan.random_sets} random sets, {plan.greedy_tries} greedy tries per step, the "
        "file's selectors).",
    ]
    if best_selector is not None:
        header.append(
            f"# The file's best selector on dev, {best_selector.candidate.label}, passed "
            f"{100 * best_selector.pass_rate:.1f}%."
        )
    header += [
        "# Dev pass rates chose the winner and overstate it; the held-out cases did not take",
        "# part. Confirm with: harness run " + path.name + " --all-held-out",
    ]
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    path.write_text("\n".join(header) + "\n" + body, "utf-8")
    return path
