"""``harness report``: a run's HTML report or Markdown summary, from its reference."""

from __future__ import annotations

from pathlib import Path

from harness.home import harness_home
from harness.report.html import write_html
from harness.report.markdown import markdown_summary
from harness.report.run_report import load_run_report
from harness.runs import open_run

__all__ = ["publish_report"]


def publish_report(
    ref: str,
    *,
    output: Path | None = None,
    against: str | None = None,
    fmt: str = "html",
    home: Path | None = None,
) -> tuple[Path | None, str]:
    """(the file written, the Markdown text): HTML is always written (by default into the
    run's folder); Markdown is returned, and written too when ``output`` is given."""
    root = harness_home(home)
    run = open_run(root, ref)
    earlier = open_run(root, against) if against else None
    report = load_run_report(run, against=earlier, home=root)
    if fmt == "markdown":
        text = markdown_summary(report)
        if output is not None:
            output.write_text(text + "\n", "utf-8")
            return output, text
        return None, text
    return write_html(report, output), ""
