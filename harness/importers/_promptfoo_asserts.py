"""promptfoo assertions (YAML or CSV ``__expected`` strings) as the harness's checks.

Each assertion becomes the check with promptfoo's rule (see the table in
``tests/importers/fixtures/promptfoo/SEMANTICS.md``), or a located warning saying why it
was not imported: a check that would decide differently is never written silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from harness.errors import Location
from harness.importers._common import ImportedSuite
from harness.importers._nunjucks import translate

__all__ = ["assertion_from_string", "convert_assertion"]

#: promptfoo's ``BaseAssertionTypes`` that a CSV ``type:value`` string may name.
BASE_TYPES = frozenset(
    [
        "equals",
        "contains",
        "icontains",
        "contains-all",
        "contains-any",
        "icontains-all",
        "icontains-any",
        "starts-with",
        "regex",
        "is-json",
        "contains-json",
        "is-sql",
        "contains-sql",
        "is-xml",
        "contains-xml",
        "is-html",
        "contains-html",
        "javascript",
        "python",
        "ruby",
        "webhook",
        "rouge-n",
        "bleu",
        "gleu",
        "meteor",
        "levenshtein",
        "similar",
        "llm-rubric",
        "g-eval",
        "model-graded-closedqa",
        "model-graded-factuality",
        "factuality",
        "answer-relevance",
        "context-recall",
        "context-relevance",
        "context-faithfulness",
        "classifier",
        "latency",
        "cost",
        "perplexity",
        "perplexity-score",
        "moderation",
        "is-refusal",
        "finish-reason",
        "is-valid-openai-function-call",
        "is-valid-openai-tools-call",
        "is-valid-function-call",
        "tool-call-f1",
        "select-best",
        "human",
        "guardrails",
        "pi",
        "word-count",
        "ends-with",
    ]
)
_ARRAY = {"contains-all", "contains-any", "icontains-all", "icontains-any"}
_RAW = {"contains-json", "is-json"}
_THRESHOLD = {
    "answer-relevance", "classifier", "context-faithfulness", "context-recall",
    "context-relevance", "cost", "latency", "levenshtein", "perplexity-score",
    "perplexity", "rouge-n", "similar", "starts-with",
}  # fmt: skip
_TYPED = re.compile(r"^(not-)?([a-z][a-z0-9-]*)(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$")
_TEXT_CHECKS = {
    "equals": "equals",
    "contains": "contains",
    "icontains": "icontains",
    "starts-with": "starts_with",
    "regex": "regex",
    "ends-with": None,
}
_LIST_CHECKS = {t: t.replace("-", "_") for t in _ARRAY}


def assertion_from_string(expected: str) -> dict[str, Any]:
    """promptfoo's ``assertionFromString`` (src/csv.ts): a CSV cell as an assertion."""
    for prefix in ("javascript:", "fn:", "eval:"):
        if expected.startswith(prefix):
            return {"type": "javascript", "value": expected[len(prefix) :].strip()}
    for prefix in ("grade:", "llm-rubric:"):
        if expected.startswith(prefix):
            return {"type": "llm-rubric", "value": expected[len(prefix) :]}
    if expected.startswith("python:"):
        return {"type": "python", "value": expected[len("python:") :].strip()}
    if expected.startswith("file://") and (expected.endswith(".py") or ".py:" in expected):
        return {"type": "python", "value": expected[len("file://") :].strip()}
    match = _TYPED.match(expected)
    if match is None or match.group(2) not in BASE_TYPES:
        return {"type": "equals", "value": expected}
    negate, kind, threshold, value = match.groups()
    out: dict[str, Any] = {"type": f"{negate or ''}{kind}"}
    if kind in _ARRAY:
        out["value"] = [v.strip() for v in value.split(",")] if value else value
    elif kind in _RAW:
        out["value"] = value
    else:
        out["value"] = value.strip() if value is not None else None
    if kind in _THRESHOLD:
        out["threshold"] = float(threshold) if threshold else (0.8 if kind == "similar" else 0.75)
    return out


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None


class _Converter:
    def __init__(
        self, suite: ImportedSuite, where: Location, judge: str | None,
        python_file: Callable[[str, Location], str | None],
    ) -> None:  # fmt: skip
        self.suite, self.where, self.judge, self.python_file = suite, where, judge, python_file

    def skip(self, message: str) -> None:
        self.suite.warn(self.where, message, "checks")

    def text(self, value: Any, kind: str) -> str | None:
        if isinstance(value, (dict, list)) or value is None:
            self.skip(f"{kind}: a value of {value!r} is not compared as text here; not imported")
            return None
        text = value if isinstance(value, str) else str(value)
        translated, why, _ = translate(text)
        if translated is None:
            self.skip(f"{kind}: {why}; not imported")
        return translated

    def convert(self, a: Mapping[str, Any]) -> dict[str, Any] | None:
        kind = str(a.get("type", ""))
        base = kind.removeprefix("not-")
        negate = "not_" if kind != base else ""
        if "transform" in a:
            self.skip(f"{kind}: `transform` runs JavaScript on the output; not imported")
            return None
        check = self.check(base, a)
        if check is None:
            return None
        name, arg = check
        entry: dict[str, Any] = {f"{negate}{name}": arg}
        weight = _number(a.get("weight")) if "weight" in a else None
        if weight is not None:
            entry["weight"] = weight
        self.suite.imported["checks"] += 1
        return entry

    def check(self, base: str, a: Mapping[str, Any]) -> tuple[str, Any] | None:
        value, threshold = a.get("value"), _number(a.get("threshold"))
        if _TEXT_CHECKS.get(base):
            text = self.text(value, base)
            return None if text is None else (str(_TEXT_CHECKS[base]), text)
        if base in _LIST_CHECKS:
            values = value if isinstance(value, list) else [value]
            texts = [self.text(v, base) for v in values]
            if any(t is None for t in texts):
                return None
            return _LIST_CHECKS[base], texts if isinstance(value, list) else texts[0]
        if base in ("is-json", "contains-json"):
            return self.json(base, value)
        if base in ("similar", "levenshtein"):
            return self.distance(base, value, threshold)
        if base in ("llm-rubric", "model-graded-closedqa"):
            return self.rubric(base, a, threshold)
        if base in ("latency", "cost"):
            if not threshold:
                self.skip(f"{base} needs a threshold (promptfoo fails without one); not imported")
                return None
            return ("max_latency_ms" if base == "latency" else "max_cost"), threshold
        if base == "python":
            return self.python(value)
        self.skip(f"promptfoo's `{base}` assertion has no equivalent here; not imported")
        return None

    def json(self, base: str, value: Any) -> tuple[str, Any] | None:
        if value in (None, "") or isinstance(value, Mapping):
            schema = dict(value) if isinstance(value, Mapping) else None
            if base == "is-json":
                return ("json_schema", schema) if schema else ("is_json", True)
            return "contains_json", schema or True
        self.skip(f"{base}: a schema given as {value!r} (not a mapping) is not imported")
        return None

    def distance(self, base: str, value: Any, threshold: float | None) -> tuple[str, Any] | None:
        if not isinstance(value, str):
            self.skip(f"{base}: only one text value is imported, not {value!r}")
            return None
        text = self.text(value, base)
        if text is None:
            return None
        if base == "levenshtein":  # `assertion.threshold || 5`: 0 and none both mean 5
            return "levenshtein", {"value": text, "threshold": threshold or 5}
        self.suite.warn(
            self.where,
            "similar: promptfoo compares embeddings (cosine); the harness's `similar` compares "
            "characters (rapidfuzz ratio) with the same threshold, so verdicts may differ",
        )
        return "similar", {"value": text, "threshold": 0.75 if threshold is None else threshold}

    def rubric(
        self, base: str, a: Mapping[str, Any], threshold: float | None
    ) -> tuple[str, Any] | None:
        rubric = self.text(a.get("value"), base)
        if rubric is None:
            return None
        if threshold is not None:
            self.suite.warn(
                self.where, f"{base}: the judge passes or fails; threshold {threshold:g} dropped"
            )
        arg: dict[str, Any] = {"rubric": rubric}
        provider = a.get("provider") or self.judge
        if isinstance(provider, str) and provider.startswith("openai:"):
            arg["model"] = "openai:" + provider.split(":")[-1]
        elif provider is not None:
            self.suite.warn(
                self.where, f"{base}: grader {provider!r} not imported; the default judges"
            )
        return "judge", arg

    def python(self, value: Any) -> tuple[str, Any] | None:
        text = str(value or "")
        if not text.startswith("file://") and not text.endswith(".py") and ".py:" not in text:
            self.skip("python: inline Python code is not imported (only file://FILE.py:function)")
            return None
        target = self.python_file(text.removeprefix("file://"), self.where)
        if target is None:
            return None
        self.suite.warn(
            self.where,
            f"python: imported as `python: {target}` (needs --allow-python); promptfoo passes "
            "(output, context) with the vars in context['vars'], the harness (output, vars)",
        )
        return "python", target


def convert_assertion(
    assertion: Any,
    suite: ImportedSuite,
    where: Location,
    judge: str | None,
    python_file: Callable[[str, Location], str | None],
) -> dict[str, Any] | None:
    """One promptfoo assertion as a harness check entry, or None (with a warning)."""
    converter = _Converter(suite, where, judge, python_file)
    if not isinstance(assertion, Mapping) or "type" not in assertion:
        converter.skip(f"not an assertion with a `type`: {assertion!r}")
        return None
    return converter.convert(assertion)
