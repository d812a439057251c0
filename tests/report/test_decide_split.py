"""``decide`` on a split run: the best prompt is chosen on dev, compared on held-out cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.experiment import DEV, HELDOUT, Variant
from harness.report.decide import decide
from harness.report.summary import Summary, summarize_run
from harness.results import Result


@dataclass(frozen=True)
class _Run:
    summary: Summary
    results: Sequence[Result]
    selection: Summary | None


def _results(variant: str, dev: list[bool], held: list[bool]) -> list[Result]:
    out = [
        Result(variant, f"d{i}", 0, f"{variant}d{i}", "x", passed=p, split=DEV)
        for i, p in enumerate(dev)
    ]
    out += [
        Result(variant, f"h{i}", 0, f"{variant}h{i}", "x", passed=p, split=HELDOUT)
        for i, p in enumerate(held)
    ]
    return out


def test_the_best_prompt_is_the_dev_winner_and_the_comparison_is_held_out(tmp_path: Path) -> None:
    lucky = Variant("lucky/k0/m", "lucky", 0, None, None, "m")
    steady = Variant("steady/k0/m", "steady", 0, None, None, "m")
    tuned = Variant("lucky/k0/m+lora", "lucky", 0, None, None, "m+lora")
    results = (
        _results(lucky.id, [True] * 14 + [False] * 6, [True] * 8 + [False] * 12)
        + _results(steady.id, [True] * 12 + [False] * 8, [True] * 13 + [False] * 7)
        + _results(tuned.id, [True] * 18 + [False] * 2, [True] * 18 + [False] * 2)
    )
    summary, selection = summarize_run([lucky, steady, tuned], results)
    decision = decide(_Run(summary, results, selection), tmp_path)
    # dev chose `lucky` (70% on dev) although `steady` does better on held-out cases:
    # the decision compares with the prompt dev chose, on the 20 held-out cases only
    assert "lucky/k0/m (best prompt)" in decision.text
    assert "40.0%" in decision.text and "90.0%" in decision.text
    assert "over 20 shared cases" in decision.text
    assert "chosen on 20 dev cases" in decision.text and "20 held-out cases" in decision.text
    assert decision.recommendation == "fine-tune"
