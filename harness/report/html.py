"""The shared report: one self-contained HTML file per run.

Everything is inline (CSS, JavaScript, the data as JSON, the curve as SVG), and a Content
Security Policy forbids every request, so the file opens from ``file://``, from a CI
artefact or from ``harness view`` alike and sends nothing anywhere. The summary (header,
table, curve, decision, run comparison) is HTML rendered here; JavaScript adds sorting,
the case browser and the two-variant view. Text from runs reaches the page only through
Jinja's autoescaping or the browser's ``textContent``, never as markup.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from harness.home import report_path
from harness.report.run_report import RunReport
from harness.report.summary import Summary
from harness.report.svg import curve_svg, loss_svg
from harness.report.table import report_json, split_title, table_footer, table_rows

__all__ = ["render_html", "report_data", "write_html"]

_STATUS = {True: "pass", False: "fail", None: "error"}


def _stats(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    stats = meta.get("stats")
    return stats if isinstance(stats, dict) else {}


def _when(meta: Mapping[str, Any]) -> str:
    started = meta.get("started")
    if not isinstance(started, (int, float)):
        return "—"
    return _dt.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M:%S")


def _wall(meta: Mapping[str, Any]) -> str:
    started, finished = meta.get("started"), meta.get("finished")
    if isinstance(started, (int, float)) and isinstance(finished, (int, float)):
        return f"{finished - started:.1f} s"
    return "—"


def header(report: RunReport) -> list[tuple[str, str]]:
    """The facts at the top of the report, as (label, value) pairs."""
    meta, results = report.meta, report.results
    tokens_in = sum(r.prompt_tokens or 0 for r in results)
    tokens_out = sum(r.completion_tokens or 0 for r in results)
    costs = [r.cost for r in results if r.cost is not None]
    models = meta.get("models")
    return [
        ("run", report.run.id),
        ("started", _when(meta)),
        ("status", report.status),
        ("command", str(meta.get("command") or "—")),
        ("harness", str(meta.get("harness_version") or "—")),
        ("models", ", ".join(sorted(set(models.values()))) if isinstance(models, dict) else "—"),
        ("cases", str(meta.get("cases") or len({r.case for r in results}))),
        ("variants", str(len(report.variants))),
        ("results", str(len(results))),
        ("wall time", _wall(meta)),
        ("tokens", f"{tokens_in:,} in / {tokens_out:,} out"),
        ("cost", f"${sum(costs):.4f}" if costs else "—"),
        ("errors", str(sum(r.error is not None for r in results))),
        *_batch_fact(meta),
    ]


def _batch_fact(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Batch mode, when the run used it: its answers cost the Batch API's price."""
    models = meta.get("batch")
    if not isinstance(models, list) or not models:
        return []
    return [("batch mode", ", ".join(str(m) for m in models) + " (Batch API, batch price)")]


def report_data(report: RunReport) -> dict[str, Any]:
    """What the page's JavaScript reads: results, the sent messages, the paired stats."""
    ids = [v.variant.id for v in report.summary.variants]
    index = {vid: i for i, vid in enumerate(ids)}
    checks: dict[str, int] = {}
    results = []
    for r in report.results:
        if r.variant not in index:
            continue
        results.append(
            {
                "v": index[r.variant],
                "c": r.case,
                "r": r.repeat,
                "o": r.output,
                "s": _STATUS[r.passed] if r.error is None else "error",
                "e": r.error,
                "k": [
                    [checks.setdefault(c.name, len(checks)), c.passed, c.reason, c.error]
                    for c in r.checks
                ],
                "q": r.key,
                "sh": list(r.shots),
                "ms": r.latency_ms,
                "ti": r.prompt_tokens,
                "to": r.completion_tokens,
            }
        )
    pairs = {
        f"{a}\u0000{b}": [p.a_only, p.b_only, p.p_value, p.diff, p.low, p.high, p.cases]
        for (a, b), p in report.pairs.items()
    }
    log = report.requests
    return {
        "variants": ids,
        "best": report.summary.best,
        "checks": list(checks),
        "results": results,
        "cases": log.cases,
        "texts": log.texts,
        "params": log.params,
        "requests": log.requests,
        "pairs": pairs,
    }


def _script_json(data: Any) -> str:
    """JSON safe inside ``<script>``: no ``</script>``, no comment or CDATA openers."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return resources.files("harness.report").joinpath("assets", name).read_text("utf-8")


def render_html(report: RunReport) -> str:
    """The whole report as one HTML document."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(_asset("report.html.j2"))
    headers, rows = table_rows(report.summary, plain=True)
    summary_json = report_json(report.summary, [])
    return template.render(
        name=str(report.meta.get("experiment") or report.run.id),
        description=report.meta.get("description") or "",
        facts=header(report),
        headers=headers,
        rows=rows,
        sort_keys=sort_keys(report.summary),
        variants=summary_json["variants"],
        baseline=report.summary.baseline,
        footer=_footer_lines(report),
        runner_up=next((v.vs_best for v in report.summary.variants if not v.is_best), None),
        curve=curve_svg(report.curve, "pass rate vs shots (95% bands)"),
        decision=report.decision.text if report.decision else None,
        training=[{"caption": t.caption, "svg": loss_svg(t)} for t in report.training],
        split_title=split_title(report.summary, report.selection),
        selection=_selection(report),
        against=report.against,
        requests_recorded=bool(report.requests.requests),
        css=_asset("report.css"),
        js=_asset("report.js"),
        data=_script_json(report_data(report)),
    )


def _selection(report: RunReport) -> dict[str, Any] | None:
    """A split run's dev table, shown after the answer as the step that chose it."""
    if report.selection is None:
        return None
    headers, rows = table_rows(report.selection, plain=True)
    return {
        "title": split_title(report.selection),
        "headers": headers,
        "rows": rows,
        "footer": [line for line in table_footer(report.selection).splitlines() if line],
    }


def _footer_lines(report: RunReport) -> list[str]:
    return [line for line in table_footer(report.summary).splitlines() if line]


def sort_keys(summary: Summary) -> list[list[float | str | None]]:
    """Per row and column of :func:`table_rows`, the value the column sorts by."""
    out: list[list[float | str | None]] = []
    for rank, v in enumerate(summary.variants):
        row: list[float | str | None] = [
            rank,
            v.variant.id,
            v.rate.rate,
            0.0 if v.is_best else (v.vs_best.diff if v.vs_best else None),
            v.p_best,
        ]
        if summary.baseline:
            row += [v.vs_baseline.diff if v.vs_baseline else None, v.p_baseline]
        row += [v.rate.cases, v.errors, v.latency_ms, v.tokens_in, v.cost_per_1k]
        out.append(row)
    return out


def write_html(report: RunReport, path: Path | None = None) -> Path:
    """Write the report (by default ``report.html`` in the run's folder); its path."""
    target = path or report_path(report.run.path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(render_html(report), "utf-8")
    tmp.replace(target)
    return target
