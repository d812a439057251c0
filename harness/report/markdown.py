"""The pull-request summary: a run's table, decision and regressions as GitHub Markdown.

Short by design (at most :data:`MAX_CHARS`; GitHub refuses comments over 65,536
characters): the top variants and the baseline with their intervals and p-values, the
decision when the run fine-tuned, and the regressions against an earlier run. Text from
outputs is escaped so a model's answer cannot break the table or inject markup.
"""

from __future__ import annotations

import re

from harness.report.run_report import RunReport
from harness.report.table import split_title, table_footer, table_rows

__all__ = ["MAX_CHARS", "markdown_summary"]

MAX_CHARS = 60_000
_TOP = 10
#: Markdown that text from a run (an output, a name) could use to format, link or inject.
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
#: What our own cells need escaped to stay in their table cell.
_CELL = re.compile(r"([\\|<>])")


def _cell(text: str | None, limit: int = 80, *, ours: bool = False) -> str:
    """One line for a table cell, shortened; markup escaped (only ``|<>\\`` in ``ours``)."""
    flat = " ".join((text or "").split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return (_CELL if ours else _SPECIAL).sub(r"\\\1", flat) or "∅"


def _table(report: RunReport) -> list[str]:
    headers, rows = table_rows(report.summary, plain=True)
    baseline = report.summary.baseline
    keep = [
        i for i, v in enumerate(report.summary.variants) if i < _TOP or v.variant.id == baseline
    ]
    lines = [
        "| " + " | ".join(h or "mark" for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for i in keep:
        lines.append("| " + " | ".join(_cell(c, 200, ours=True) for c in rows[i]) + " |")
    hidden = len(rows) - len(keep)
    if hidden:
        lines.append(f"\n… and {hidden} more variant(s) in the full report.")
    return lines


def markdown_summary(report: RunReport, *, max_chars: int = MAX_CHARS) -> str:
    """The summary, at most ``max_chars`` characters."""
    summary = report.summary
    name = str(report.meta.get("experiment") or report.run.id)
    best = next((v for v in summary.variants if v.is_best), None)
    title = f"## {_cell(name)}"
    if best is not None:
        title += (
            f": `{best.variant.id}` passes {100 * best.rate.rate:.1f}% "
            f"[{100 * best.rate.low:.0f}–{100 * best.rate.high:.0f}%]"
        )
    out = [title, ""]
    description = report.meta.get("description")
    if isinstance(description, str) and description:
        out += [_cell(description, 300), ""]
    heading = split_title(summary, report.selection)
    if heading is not None:
        out += [f"*{heading}*", ""]
    out += _table(report)
    out += ["", *(f"- {_cell(ln, 300, ours=True)}" for ln in table_footer(summary).splitlines())]
    if report.decision is not None:
        out += ["", "### Prompt or fine-tune?", "", "```text", report.decision.text, "```"]
    if report.against is not None:
        c = report.against
        out += [
            "",
            f"### Against `{c.before}`: {len(c.regressions)} regression(s), {len(c.fixes)} fix(es)",
            "",
            "| variant | before | after | Δ pp [95% CI] | p (exact) |",
            "|---|---|---|---|---|",
        ]
        for v in c.variants:
            p = v.paired
            out.append(
                f"| `{v.variant}` | {100 * v.before:.1f}% | {100 * v.after:.1f}% | "
                f"{100 * p.diff:+.1f} [{100 * p.low:+.0f}, {100 * p.high:+.0f}] | "
                f"{p.p_value:.3f} |"
            )
        if c.regressions:
            out += ["", "| regression | case | before | after |", "|---|---|---|---|"]
            for change in c.regressions[:20]:
                out.append(
                    f"| `{change.key[0]}` | {_cell(change.key[1], 40)} | "
                    f"{_cell(change.was.output)} | {_cell(change.now.output)} |"
                )
            if len(c.regressions) > 20:
                out.append(f"\n… and {len(c.regressions) - 20} more")
    results = report.results
    out += [
        "",
        f"<sub>run `{report.run.id}` · {len({r.case for r in results})} cases · "
        f"{len(report.variants)} variants · {len(results)} results · "
        f"{sum(r.error is not None for r in results)} errors · "
        f"prompt-harness {report.meta.get('harness_version') or ''}</sub>",
    ]
    text = "\n".join(out)
    if len(text) > max_chars:
        cut = text[: max_chars - 60].rsplit("\n", 1)[0]
        text = cut + "\n\n… (summary shortened; see the full report)"
    return text
