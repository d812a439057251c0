"""The ``judge`` check: a model grades the output against a rubric, and its reasoning is kept.

``judge: "Is the answer polite?"`` uses the embedded model; ``judge: {rubric: ..., model:
openai:gpt-4o-mini}`` names another (a model listed in the experiment's ``models`` keeps
its base_url and key). Judge requests go through the same runner and cache
as everything else, so a re-run does not pay for grading twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness.checks.builtin import Verdict
from harness.experiment.schema import DEFAULT_MODEL

__all__ = ["JUDGE_SYSTEM", "judge_messages", "judge_model", "parse_verdict"]

JUDGE_SYSTEM = (
    "You are a strict grader. Read the rubric, the task input and the response. "
    "Explain your reasoning in one or two sentences, then finish with a final line that "
    "is exactly 'VERDICT: PASS' or 'VERDICT: FAIL'."
)
_VERDICT = re.compile(r"\b(PASS|FAIL)(?:ED|ES)?\b", re.IGNORECASE)


def judge_model(arg: Any) -> str:
    return str(arg.get("model", DEFAULT_MODEL)) if isinstance(arg, Mapping) else DEFAULT_MODEL


def judge_messages(
    arg: Any, case_vars: Mapping[str, Any], output: str
) -> tuple[dict[str, str], ...]:
    rubric = str(arg.get("rubric", "")) if isinstance(arg, Mapping) else str(arg)
    task = case_vars.get("input", "")
    user = f"Rubric: {rubric}\n\nTask input: {task}\n\nResponse: {output}\n\nGrade the response."
    return ({"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user})


def parse_verdict(text: str) -> Verdict:
    """PASS/FAIL from the judge's last verdict word; the reasoning is the reason."""
    found = _VERDICT.findall(text)
    reasoning = " ".join(text.split())[:400]
    if not found:
        return False, f"judge gave no verdict: {reasoning!r}", None
    passed = found[-1].upper() == "PASS"
    return passed, f"judge: {reasoning}", None
