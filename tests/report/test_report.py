"""The comparison table, its formats, the JSON contract and the learning curve."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from harness.experiment import Variant
from harness.report.curve import curve_table, learning_curve, plot_learning_curve
from harness.report.summary import summarize
from harness.report.table import format_report
from harness.results import Result


def synthetic(n_variants: int, n_cases: int, seed: int = 0) -> tuple[list[Variant], list[Result]]:
    rng = random.Random(seed)
    variants, results = [], []
    for i in range(n_variants):
        k = [0, 1, 3, 8][i % 4]
        v = Variant(
            f"prompt{i // 8}/k{k}/random/s{i % 2}/local:smollm2-with-a-long-name",
            f"prompt{i // 8}",
            k,
            "random" if k else None,
            i % 2 if k else None,
            "local:smollm2",
        )
        variants.append(v)
        skill = 0.3 + 0.6 * (i % 4) / 3
        for c in range(n_cases):
            ok = rng.random() < skill
            results.append(
                Result(
                    v.id,
                    f"c{c}",
                    0,
                    f"{i}-{c}",
                    "out",
                    passed=ok,
                    latency_ms=10.0,
                    prompt_tokens=50,
                    completion_tokens=5,
                )
            )
    return variants, results


def test_table_marks_best_and_indistinguishable() -> None:
    variants, results = synthetic(8, 60)
    summary = summarize(variants, results)
    text = format_report(summary, results, "table")
    first_row = text.splitlines()[2]
    assert (
        first_row.startswith("★") and summary.best in first_row.replace("…", "") or "★" in first_row
    )
    rates = [v.rate.rate for v in summary.variants]
    assert rates == sorted(rates, reverse=True)
    assert "≈" in text or all(not v.indistinguishable for v in summary.variants)


def test_json_contract() -> None:
    variants, results = synthetic(4, 10)
    data = json.loads(format_report(summarize(variants, results), results, "json"))
    for key in (
        "id",
        "prompt",
        "model",
        "shots",
        "selector",
        "seed",
        "n",
        "passed",
        "failed",
        "errors",
        "pass_rate",
        "ci_low",
        "ci_high",
    ):
        assert key in data["variants"][0]
    for key in ("variant", "case", "output", "passed", "error", "checks"):
        assert key in data["cases"][0]
    assert len(data["cases"]) == 40


def test_csv_and_markdown() -> None:
    variants, results = synthetic(4, 10)
    summary = summarize(variants, results)
    rows = list(csv.reader(io.StringIO(format_report(summary, results, "csv"))))
    assert len(rows) == 5 and rows[0][1] == "variant"
    assert format_report(summary, results, "markdown").startswith("|")


def test_scale_stays_readable() -> None:
    variants, results = synthetic(120, 300)
    text = format_report(summarize(variants, results), results, "table")
    lines = text.splitlines()
    assert len(lines) < 130
    assert max(len(line) for line in lines) < 220  # long ids are shortened


def test_learning_curve(tmp_path: Path) -> None:
    variants, results = synthetic(8, 30)
    points = learning_curve(variants, results)
    table = curve_table(points)
    assert "k=0" in table and "k=8" in table
    png = plot_learning_curve(points, tmp_path / "curve.png", "test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
