"""What a run leaves in its folder besides results: its description, the requests it sent,
its learning curve and its report (the machinery; the formats are owned by
:mod:`harness.runs`, :mod:`harness.run_requests` and :mod:`harness.report`)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness._run.runner import Task
from harness.experiment import Experiment, Variant, key_destinations
from harness.home import requests_path
from harness.report.curve import curve_table, learning_curve, plot_learning_curve
from harness.report.summary import Summary
from harness.results import Result
from harness.run_requests import RequestLog, SentRequest, write_requests
from harness.runs import RunDir

__all__ = [
    "command_line",
    "harness_version",
    "run_meta",
    "save_curve",
    "write_report",
    "write_requests_record",
]


def run_meta(
    exp: Experiment,
    variants: Sequence[Variant],
    models: Mapping[str, str],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """run.json's description of the run: enough to rebuild its summary and report."""
    return {
        "keys_sent": key_destinations(exp.spec),
        "variants": [v.id for v in variants],
        "models": dict(models),
        "cases": len(exp.cases),
        "description": exp.spec.description,
        "command": command_line(),
        "harness_version": harness_version(),
        "baseline": exp.spec.baseline,
        "min_pass_rate": exp.spec.min_pass_rate,
        "variant_records": [dataclasses.asdict(v) for v in variants],
        "options": dict(options),
    }


def command_line() -> str:
    """How this run was started, as a reader of its report would retype it."""
    import shlex
    from pathlib import PurePath

    args = list(sys.argv)
    if not args:
        return ""
    program = PurePath(args[0])
    is_cli = program.name == "harness" or program.parts[-2:] == ("harness", "__main__.py")
    args[0] = "harness" if is_cli else program.name
    return shlex.join(args)


def harness_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("prompt-harness")
    except PackageNotFoundError:
        return "unknown"


def write_requests_record(
    run: RunDir, exp: Experiment, tasks: Sequence[Task], results: Sequence[Result]
) -> RequestLog:
    """What each result was asked, for the report's "exactly as sent" view."""
    answered = {r.key for r in results}
    sent = []
    params: dict[int, dict[str, Any]] = {}  # one dict per parameter set: compact() keys on it
    for task in tasks:
        if task.key not in answered:
            continue
        messages = task.request.messages
        owners = task.owners or (None,) * len(messages)
        if id(task.request.params) not in params:
            params[id(task.request.params)] = task.request.params.to_dict()
        sent.append(
            SentRequest(
                task.key,
                [
                    (m["role"], m["content"], o, m.get("name"))
                    for m, o in zip(messages, owners, strict=True)
                ],
                params[id(task.request.params)],
            )
        )
    return write_requests(requests_path(run.path), sent, {c.id: c.vars for c in exp.cases})


def write_report(
    run: RunDir,
    home: Path | None,
    *,
    results: Sequence[Result],
    summary: Summary,
    selection: Summary | None = None,
    requests: RequestLog,
) -> Path | None:
    """The run's HTML report; a report that cannot be written costs a warning, not the run.

    Built from what the run holds in memory (reading its files back would double the cost
    of a cached re-run)."""
    from harness.report.html import write_html
    from harness.report.run_report import load_run_report

    try:
        report = load_run_report(
            run,
            home=home,
            results=results,
            summary=summary,
            selection=selection,
            requests=requests,
        )
        return write_html(report)
    except OSError as exc:
        print(f"warning: the report could not be written: {exc}", file=sys.stderr)
        return None


def save_curve(
    variants: Sequence[Variant], results: Sequence[Result], run: RunDir, name: str
) -> Path | None:
    if len({v.shots for v in variants}) < 2:
        return None
    points = learning_curve(variants, results)
    (run.path / "learning_curve.txt").write_text(curve_table(points) + "\n", "utf-8")
    return plot_learning_curve(
        points, run.path / "learning_curve.png", f"{name}: pass rate vs shots"
    )
