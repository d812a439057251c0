"""Check a chat fine-tuning JSONL file before paying for a job on it.

Implements the checks of OpenAI's "Chat fine-tuning data preparation and analysis" guide
(the cookbook's ``Chat_finetuning_data_prep.ipynb``) with its category names, counted as
its code counts them: once per offending message, so one example can add to several
categories and to one category more than once. On input the guide's code handles, the
counts are the same. Where it is wrong or crashes, this module differs:

- ``tool`` messages are valid (they need ``content`` and ``tool_call_id``); assistant
  messages with ``tool_calls`` or ``function_call`` need no ``content``; an example's
  top-level ``tools`` is fine (and its tokens count).
- ``weight`` must be 0 or 1 and only on assistant messages (extra category ``invalid_weight``).
- A message that is not an object is ``message_data_type`` (extra category; the guide crashes).
- ``messages`` that is not a list is ``missing_messages_list``, as the guide already counts
  an empty or falsy one.
- A line that is not JSON (or not UTF-8) is ``invalid_json`` (extra category); blank lines
  are skipped. The guide crashes on both.

Every problem keeps its 1-based line number. Warnings and token statistics cover the
examples that have a list of messages.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.finetune import tokens
from harness.finetune.tokens import Distribution

__all__ = ["CATEGORIES", "GUIDE_CATEGORIES", "DataProblem", "ValidationReport", "validate_file"]

# The guide's categories in its order, then ours.
GUIDE_CATEGORIES = (
    "data_type",
    "missing_messages_list",
    "message_missing_key",
    "message_unrecognized_key",
    "unrecognized_role",
    "missing_content",
    "example_missing_assistant_message",
)
CATEGORIES = (*GUIDE_CATEGORIES, "invalid_json", "message_data_type", "invalid_weight")

# The guide's keys, and those of tool calls and their results.
_KEYS = frozenset(
    {"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id"}
)
_ROLES = ("system", "user", "assistant", "function", "tool")

MIN_EXAMPLES = 10  # OpenAI rejects smaller training files
ADVISED_EXAMPLES = 50
_FEW = "clear improvements usually come from 50-100 well-crafted examples"
_LONG = "{} examples exceed {} tokens and will be truncated in training (lines {})"
_ESTIMATE = "token counts are estimates (about 4 characters per token), not exact"


@dataclass(frozen=True)
class DataProblem:
    """One format error at a 1-based line."""

    line: int
    category: str
    message: str


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate_file` found; ``to_json`` and ``to_text`` are its two views."""

    path: str
    model: str | None
    n_examples: int
    problems: tuple[DataProblem, ...]
    missing_system: int
    missing_user: int
    messages: Distribution | None
    total_tokens: Distribution | None
    assistant_tokens: Distribution | None
    tokens_exact: bool
    tokenizer: str  # encoding name, "custom", or "estimate"
    token_limit: int
    over_limit_lines: tuple[int, ...]
    epochs: int
    billed_tokens: int
    training_cost_usd: float | None
    advice: tuple[tuple[str, str], ...]  # (level, message); level "error" blocks ``ok``

    @property
    def errors(self) -> dict[str, int]:
        counts = Counter(p.category for p in self.problems)
        return {c: counts[c] for c in CATEGORIES if counts[c]}

    @property
    def ok(self) -> bool:
        """No format errors and nothing that makes OpenAI refuse the file."""
        return not self.problems and all(level != "error" for level, _ in self.advice)

    def to_json(self) -> dict[str, Any]:
        def dist(d: Distribution | None) -> dict[str, float] | None:
            return None if d is None else asdict(d)

        return {
            "path": self.path,
            "model": self.model,
            "ok": self.ok,
            "n_examples": self.n_examples,
            "errors": self.errors,
            "missing_system": self.missing_system,
            "missing_user": self.missing_user,
            "tokens": {
                "messages": dist(self.messages),
                "total": dist(self.total_tokens),
                "assistant": dist(self.assistant_tokens),
                "exact": self.tokens_exact,
                "tokenizer": self.tokenizer,
                "limit": self.token_limit,
                "over_limit": len(self.over_limit_lines),
                "over_limit_lines": list(self.over_limit_lines),
            },
            "epochs": self.epochs,
            "billed_tokens": self.billed_tokens,
            "training_cost_usd": self.training_cost_usd,
            "advice": [{"level": level, "message": msg} for level, msg in self.advice],
            "problems": [
                {"line": p.line, "category": p.category, "message": p.message}
                for p in self.problems
            ],
        }

    def to_text(self) -> str:
        lines = [f"{self.path}:{p.line}: {p.category}: {p.message}" for p in self.problems]
        errors = ", ".join(f"{k}: {v}" for k, v in self.errors.items()) or "no format errors"
        lines.append(f"{self.n_examples} examples; {errors}")
        lines.append(
            f"missing system message: {self.missing_system}; "
            f"missing user message: {self.missing_user}"
        )
        for name, d in (
            ("messages per example", self.messages),
            ("total tokens per example", self.total_tokens),
            ("assistant tokens per example", self.assistant_tokens),
        ):
            if d is not None:
                lines.append(f"{name}: {d.to_text()}")
        cost = (
            "unknown price" if self.training_cost_usd is None else f"~${self.training_cost_usd:.2f}"
        )
        lines.append(
            f"default epochs: {self.epochs}; billed tokens: ~{self.billed_tokens}; "
            f"training cost: {cost}" + (f" ({self.model})" if self.model else "")
        )
        lines.extend(f"{level}: {msg}" for level, msg in self.advice)
        return "\n".join(lines)


def _check_message(m: dict[str, Any], add: Callable[[str, str], None]) -> None:
    """The guide's per-message checks, with tool calls, tool results and weight fixed."""
    role = m.get("role")
    calls = role == "assistant" and bool(m.get("tool_calls") or m.get("function_call"))
    missing = [k for k in ("role", "content") if k not in m and not (k == "content" and calls)]
    if role == "tool" and "tool_call_id" not in m:
        missing.append("tool_call_id")
    if missing:
        add("message_missing_key", f"{role or 'message'} message lacks {', '.join(missing)}")
    if unknown := sorted(str(k) for k in m if k not in _KEYS):
        add("message_unrecognized_key", f"unrecognized key(s) {', '.join(unknown)}")
    if role not in _ROLES:
        add("unrecognized_role", f"role {role!r} is not one of {', '.join(_ROLES)}")
    content = m.get("content")
    bad = "missing or empty" if not content else f"a {type(content).__name__}, not a string"
    if calls:  # a tool call needs no content, but any content must be text
        if content is not None and not isinstance(content, str):
            add("missing_content", f"content is {bad}")
    elif (not content and not m.get("function_call")) or not isinstance(content, str):
        add("missing_content", f"content is {bad}")
    if "weight" in m:
        weight = m["weight"]
        if role != "assistant":
            add("invalid_weight", f"weight is only allowed on assistant messages, not {role!r}")
        elif type(weight) is not int or weight not in (0, 1):
            add("invalid_weight", f"weight must be 0 or 1, not {weight!r}")


def _check_example(ex: Any, add: Callable[[str, str], None]) -> list[Any] | None:
    """Problems of one parsed line; its messages when it has a list of them."""
    if not isinstance(ex, dict):
        add("data_type", f"example is {type(ex).__name__}, not an object")
        return None
    messages = ex.get("messages")
    if not messages or not isinstance(messages, list):
        kind = type(messages).__name__
        add(
            "missing_messages_list",
            f"messages is {kind}, not a list" if messages else "no messages",
        )
        return None
    for i, m in enumerate(messages, 1):
        if isinstance(m, dict):

            def add_at(category: str, message: str, i: int = i) -> None:
                add(category, f"message {i}: {message}")

            _check_message(m, add_at)
        else:
            add("message_data_type", f"message {i} is {type(m).__name__}, not an object")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        add("example_missing_assistant_message", "no assistant message")
    return messages


def validate_file(
    path: str | Path,
    *,
    model: str | None = None,
    max_tokens: int | None = None,
    tokenizer: Callable[[str], int] | None = None,
) -> ValidationReport:
    """Validate a chat fine-tuning JSONL file for ``model`` (OpenAI or ``local:``).

    ``max_tokens`` overrides the model's per-example token limit; ``tokenizer`` (text ->
    token count) overrides the token counter, e.g. a Hugging Face tokenizer for a local model.
    """
    problems: list[DataProblem] = []
    n_examples = missing_system = missing_user = 0
    n_messages: list[int] = []
    totals: list[int] = []
    assistants: list[int] = []
    over: list[int] = []
    exact = True
    limit = max_tokens if max_tokens is not None else tokens.token_limit(model)
    for lineno, raw in enumerate(Path(path).read_bytes().split(b"\n"), 1):
        if not raw.strip():
            continue
        n_examples += 1

        def add(category: str, message: str, lineno: int = lineno) -> None:
            problems.append(DataProblem(lineno, category, message))

        try:
            ex = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            add("invalid_json", f"not UTF-8 at byte {e.start}")
            continue
        except json.JSONDecodeError as e:
            add("invalid_json", f"not valid JSON: {e.msg} at column {e.colno}")
            continue
        messages = _check_example(ex, add)
        if messages is None:
            continue
        roles = [m.get("role") for m in messages if isinstance(m, dict)]
        missing_system += "system" not in roles
        missing_user += "user" not in roles
        total, assistant, counted_exactly = tokens.count_message_tokens(
            messages, model, tokenizer=tokenizer, tools=ex.get("tools")
        )
        exact = exact and counted_exactly
        n_messages.append(len(messages))
        totals.append(total)
        assistants.append(assistant)
        if total > limit:
            over.append(lineno)
    epochs = tokens.default_epochs(n_examples)
    billed = epochs * sum(min(limit, t) for t in totals)
    price = tokens.training_price(model)
    advice: list[tuple[str, str]] = []
    if n_examples < MIN_EXAMPLES:  # only OpenAI refuses the file; a local run just learns little
        level = "warning" if tokens.is_local(model) else "error"
        advice.append((level, f"{n_examples} examples: OpenAI requires at least {MIN_EXAMPLES}"))
    elif n_examples < ADVISED_EXAMPLES:
        advice.append(("warning", f"{n_examples} examples: {_FEW}"))
    if over:
        shown = ", ".join(map(str, over[:10])) + (", ..." if len(over) > 10 else "")
        advice.append(("warning", _LONG.format(len(over), limit, shown)))
    if not exact:
        advice.append(("warning", _ESTIMATE))
    return ValidationReport(
        path=str(path),
        model=model,
        n_examples=n_examples,
        problems=tuple(problems),
        missing_system=missing_system,
        missing_user=missing_user,
        messages=Distribution.of(n_messages),
        total_tokens=Distribution.of(totals),
        assistant_tokens=Distribution.of(assistants),
        tokens_exact=exact,
        tokenizer=tokens.tokenizer_label(model, tokenizer) if exact else "estimate",
        token_limit=limit,
        over_limit_lines=tuple(over),
        epochs=epochs,
        billed_tokens=billed,
        training_cost_usd=None if price is None else billed * price / 1_000_000,
        advice=tuple(advice),
    )
