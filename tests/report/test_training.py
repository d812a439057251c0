"""The report's training section: each adapter's loss curve, drawn from its training record
(read back as numbers only; a record that is not well formed is left out)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.experiment import Variant
from harness.home import adapter_meta_path
from harness.report.svg import loss_svg
from harness.report.training import training_records

TUNED = Variant("p/k0/local:m+lora", "p", 0, None, None, "local:m+lora")
PROMPT = Variant("p/k2/first/local:m", "p", 2, "first", None, "local:m")


def _record(home: Path, name: str, **fields: Any) -> None:
    path = adapter_meta_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"losses": [0.9, 0.5, 0.4, 0.2], "eval_losses": [[1, 0.45], [2, 0.3]]}
    meta |= {"seconds": 12.5, "examples": 8, "device": "cpu", "config": {"epochs": 2}}
    path.write_text(json.dumps(meta | fields), "utf-8")


def test_the_loss_curve_is_drawn_from_the_record(tmp_path: Path) -> None:
    _record(tmp_path, "lora")
    (record,) = training_records([PROMPT, TUNED, TUNED], tmp_path)  # once per adapter
    assert record.caption == "lora: 8 examples; 4 steps; 12 s on cpu; eval loss 0.4500, 0.3000"
    svg = loss_svg(record)
    points = re.search(r'id="train-loss".*?<polyline points="([^"]+)"', svg)
    assert points and len(points.group(1).split()) == 4  # one point per optimizer step
    xs = [float(p.split(",")[0]) for p in points.group(1).split()]
    assert xs == sorted(xs)
    ticks = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    assert ticks == ["0", "0.5", "1"]  # round steps up to above the highest loss (0.9)
    evals = re.findall(r"<title>epoch (\d+): eval loss ([\d.]+)</title>", svg)
    assert evals == [("1", "0.4500"), ("2", "0.3000")]
    # the last step ends the last epoch: it sits where the second eval point does
    last_eval_x = re.findall(r'<circle cx="([\d.]+)"', svg)[1]
    assert xs[-1] == pytest.approx(float(last_eval_x))


def test_early_stopping_is_drawn_over_the_epochs_that_ran(tmp_path: Path) -> None:
    _record(tmp_path, "lora", config={"epochs": 10})  # asked 10, stopped after 2
    (record,) = training_records([TUNED], tmp_path)
    assert record.epochs == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"losses": "0.5"},
        {"losses": []},
        {"losses": [0.5, "NaN"]},
        {"losses": [0.5, float("inf")]},
        {"losses": [0.5, True]},
        {"eval_losses": [[1]]},
        {"eval_losses": [["1", 0.3]]},
        {"eval_losses": {"1": 0.3}},
    ],
)
def test_a_record_that_is_not_well_formed_is_left_out(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    _record(tmp_path, "lora", **fields)
    assert training_records([TUNED], tmp_path) == []


def test_text_from_a_record_reaches_the_page_escaped(tmp_path: Path) -> None:
    from jinja2 import Environment, select_autoescape

    _record(tmp_path, "lora", device="<script>alert(1)</script>", examples="<b>")
    (record,) = training_records([TUNED], tmp_path)
    assert record.examples is None  # not a number: not shown
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    page = env.from_string("{{ caption }}").render(caption=record.caption)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<script" not in loss_svg(record)


def test_an_adapter_without_a_record_has_no_curve(tmp_path: Path) -> None:
    assert training_records([TUNED, PROMPT], tmp_path) == []
