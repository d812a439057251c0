"""Tables, plots and run reports."""

from harness.report.curve import curve_table, learning_curve, plot_learning_curve
from harness.report.summary import Summary, VariantSummary, summarize
from harness.report.table import FORMATS, format_report, report_json

__all__ = [
    "FORMATS",
    "Summary",
    "VariantSummary",
    "curve_table",
    "format_report",
    "learning_curve",
    "plot_learning_curve",
    "report_json",
    "summarize",
]
