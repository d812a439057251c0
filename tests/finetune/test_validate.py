"""validate_file against the code of OpenAI's chat fine-tuning data preparation guide.

The guide's format-check loop and its token counting are embedded below as the oracle,
applied to the examples they handle; our extra handling is checked line by line.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.finetune import tokens
from harness.finetune.validate import GUIDE_CATEGORIES, validate_file
from harness.models import tokens as model_tokens

# --- The guide's code (openai-cookbook, examples/Chat_finetuning_data_prep.ipynb, MIT),
# --- kept as it is there apart from taking the dataset and encoding as arguments.


# fmt: off
def guide_format_errors(dataset: list[Any]) -> dict[str, int]:
    format_errors: defaultdict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1
    return dict(format_errors)


def guide_num_tokens_from_messages(encoding: Any, messages: list[Any]) -> int:
    num_tokens = 0
    for message in messages:
        num_tokens += 3  # tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += 1  # tokens_per_name
    num_tokens += 3
    return num_tokens


def guide_epochs(n_train_examples: int) -> int:
    TARGET_EPOCHS, MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES = 3, 100, 25000
    MIN_DEFAULT_EPOCHS, MAX_DEFAULT_EPOCHS = 1, 25
    n_epochs = TARGET_EPOCHS
    if n_train_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        n_epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_train_examples)
    elif n_train_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        n_epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_train_examples)
    return n_epochs
# fmt: on


# --- Test data.


def msg(role: str, content: Any = "hi", **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


GOOD = {"messages": [msg("system"), msg("user"), msg("assistant")]}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}

# One example adding to several categories, and to some more than once.
SEVERAL = {"messages": [msg("robot", ""), {"content": "x", "extra": 1}, {"role": "user"}]}

# Examples the guide's code handles and we count the same way.
# fmt: off
GUIDE_CASES: list[Any] = [
    GOOD, [GOOD], "text", 5, None, {}, {"prompt": "p", "completion": "c"},
    {"messages": []}, {"messages": None}, {"messages": {}}, {"messages": ""},
    {"messages": [{"role": "user"}, msg("assistant")]},
    {"messages": [{"content": "x"}, msg("assistant")]},
    {"messages": [msg("user", foo=1), msg("assistant", bar=2)]},
    {"messages": [msg("bot"), msg("assistant")]},
    {"messages": [msg("user", ""), msg("assistant", None), msg("user", ["a"]), msg("user", 3)]},
    {"messages": [msg("system"), msg("user")]},
    SEVERAL,
    {"messages": [msg("user"), msg("assistant", "", function_call={"name": "f"})]},
    {"messages": [msg("user", None, function_call={"name": "f"}), msg("assistant")]},
    {"messages": [msg("user", name="ann"), msg("assistant", weight=0), msg("assistant", weight=1)]},
    {"messages": [msg("user"), msg("assistant")], "tools": []},
]

TOOL_EXAMPLE = {
    "messages": [msg("system"), msg("user"), {"role": "assistant", "tool_calls": [CALL]},
                 {"role": "tool", "tool_call_id": "c1", "content": "42"}, msg("assistant", "It is 42.")],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
}

# Lines where the guide crashes or is wrong (text, or an example to dump), and our counts.
EXTRA_CASES: list[tuple[Any, dict[str, int]]] = [
    ('{"messages": [', {"invalid_json": 1}),
    (b'{"messages": "\xff"}', {"invalid_json": 1}),
    ({"messages": "hello"}, {"missing_messages_list": 1}),
    ({"messages": {"role": "user"}}, {"missing_messages_list": 1}),
    ({"messages": ["hi", msg("assistant"), 5]}, {"message_data_type": 2}),
    (TOOL_EXAMPLE, {}),
    ({"messages": [msg("user"), {"role": "assistant", "function_call": {"name": "f"}}]}, {}),
    ({"messages": [msg("user"), msg("assistant", None, tool_calls=[CALL])]}, {}),
    ({"messages": [msg("user"), msg("tool"), msg("assistant")]}, {"message_missing_key": 1}),
    ({"messages": [msg("user", weight=1), msg("assistant", weight=2)]}, {"invalid_weight": 2}),
    ({"messages": [msg("user"), msg("assistant", weight="1")]}, {"invalid_weight": 1}),
    ({"messages": [msg("user"), msg("assistant", [], tool_calls=[CALL])]}, {"missing_content": 1}),
]
# fmt: on


def write_lines(path: Path, lines: Sequence[str | bytes]) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + b"\n")
    return path


def line_categories(report: Any) -> dict[int, Counter[str]]:
    by_line: dict[int, Counter[str]] = defaultdict(Counter)
    for p in report.problems:
        by_line[p.line][p.category] += 1
    return by_line


def test_guide_counts_are_reproduced(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "g.jsonl", [json.dumps(ex) for ex in GUIDE_CASES])
    report = validate_file(path)
    assert report.errors == guide_format_errors(GUIDE_CASES)
    assert set(report.errors) == set(GUIDE_CATEGORIES)  # every guide category is exercised
    several = line_categories(report)[GUIDE_CASES.index(SEVERAL) + 1]
    assert several == {"message_missing_key": 2, "message_unrecognized_key": 1, "unrecognized_role": 2,
                       "missing_content": 2, "example_missing_assistant_message": 1}  # fmt: skip


def test_extra_handling_and_line_numbers(tmp_path: Path) -> None:
    lines: list[str | bytes] = [json.dumps(ex) for ex in GUIDE_CASES]
    expected = {i: Counter(guide_format_errors([ex])) for i, ex in enumerate(GUIDE_CASES, 1)}
    lines += ["", "   "]  # blank lines are skipped, yet keep later line numbers right
    for case, counts in EXTRA_CASES:
        lines.append(case if isinstance(case, (str, bytes)) else json.dumps(case))
        expected[len(lines)] = Counter(counts)
    report = validate_file(write_lines(tmp_path / "all.jsonl", lines))
    assert report.n_examples == len(GUIDE_CASES) + len(EXTRA_CASES)
    got = line_categories(report)
    for line, counts in expected.items():
        assert got.get(line, Counter()) == counts, (line, lines[line - 1])
    assert set(got) <= set(expected)
    total = Counter(guide_format_errors(GUIDE_CASES))
    for _, counts in EXTRA_CASES:
        total.update(counts)
    assert report.errors == dict(+total)


def test_the_guide_crashes_or_miscounts_where_we_differ() -> None:
    for text in ('{"messages": "hello"}', '{"messages": ["hi"]}', '{"messages": [5]}'):
        with pytest.raises((AttributeError, TypeError)):
            guide_format_errors([json.loads(text)])
    # The valid tool-calling example, and the guide's own function_call format, are flagged.
    assert guide_format_errors([TOOL_EXAMPLE]) == {
        "message_missing_key": 1,
        "message_unrecognized_key": 2,
        "unrecognized_role": 1,
        "missing_content": 1,
    }
    legacy = {"messages": [msg("user"), {"role": "assistant", "function_call": {"name": "f"}}]}
    assert guide_format_errors([legacy]) == {"message_missing_key": 1, "missing_content": 1}


VALUES = st.one_of(st.none(), st.sampled_from(["", "hi", 0, 3, ["x"], {"a": 1}]))
MESSAGE = st.dictionaries(
    st.sampled_from(["role", "content", "name", "function_call", "weight", "extra"]),
    st.one_of(VALUES, st.sampled_from(["system", "user", "assistant", "function", "bot"])),
).filter(lambda m: "weight" not in m)  # guide accepts any weight; we check it
EXAMPLE = st.one_of(
    VALUES,
    st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=4)}),
    st.fixed_dictionaries({"messages": VALUES.filter(lambda v: not v)}),
)


def _calls_without_text(ex: Any) -> bool:
    """Assistant function calls without string content: the guide flags them, we don't."""
    messages = ex.get("messages") if isinstance(ex, dict) else None
    return isinstance(messages, list) and any(
        m.get("role") == "assistant"
        and m.get("function_call")
        and not isinstance(m.get("content"), str)
        for m in messages
    )


@settings(max_examples=80, deadline=None)
@given(st.lists(EXAMPLE.filter(lambda ex: not _calls_without_text(ex)), max_size=6))
def test_random_guide_inputs_match_the_guide(dataset: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_lines(Path(folder) / "d.jsonl", [json.dumps(ex) for ex in dataset])
        assert validate_file(path, model="local:x").errors == guide_format_errors(dataset)


@pytest.mark.parametrize(("n", "epochs"), [(5, 20), (10, 10), (50, 3), (100, 3), (30000, 1)])
def test_epoch_heuristic(n: int, epochs: int) -> None:
    assert tokens.default_epochs(n) == guide_epochs(n) == epochs


# --- Tokens, statistics, billing and the report.

_SYSTEM = "You are a happy assistant that puts a positive spin on everything."


def _chat(*turns: tuple[str, str]) -> str:
    return json.dumps({"messages": [msg(role, text) for role, text in turns]})


# The guide's toy data set (openai-cookbook examples/data/toy_chat_fine_tuning.jsonl).
# fmt: off
TOY = [
    _chat(("system", _SYSTEM), ("user", "I fell off my bike today."),
          ("assistant", "It's great that you're getting exercise outdoors!")),
    _chat(("system", _SYSTEM), ("user", "I lost my tennis match today."),
          ("assistant", "It's ok, it happens to everyone."), ("user", "But I trained so hard!"),
          ("assistant", "It will pay off next time."), ("user", "I'm going to switch to golf."),
          ("assistant", "Golf is fun too!"), ("user", "I don't even know how to play golf."),
          ("assistant", "It's easy to learn!")),
    _chat(("user", "I lost my book today."),
          ("assistant", "You can read everything on ebooks these days!")),
    _chat(("system", _SYSTEM), ("assistant", "You're great!")),
    _chat(("system", _SYSTEM), ("user", "I'm hungry."), ("assistant", "Eat a banana!" * 2000)),
]
# fmt: on


@pytest.fixture
def cl100k() -> Any:
    """The guide's encoding, built offline from bpe-openai's file; skip without the packages."""
    encoding = model_tokens._encoding("cl100k_base")
    if encoding is None:
        pytest.skip("tiktoken and bpe-openai are needed for exact counts")
    return encoding


@pytest.mark.usefixtures("cl100k")
def test_guide_published_statistics(tmp_path: Path) -> None:
    """The numbers the guide prints for its toy data (its 4096-token limit version)."""
    report = validate_file(write_lines(tmp_path / "toy.jsonl", list(TOY)), max_tokens=4096)
    out = report.to_json()
    assert out["errors"] == {} and out["missing_system"] == 1 and out["missing_user"] == 1
    t = out["tokens"]
    assert t["exact"] is True and t["tokenizer"] == "cl100k_base"
    # min, max, mean, median, p10, p90 as printed by the guide
    assert tuple(t["messages"].values()) == (2, 9, 3.8, 3.0, 2.0, 6.6000000000000005)
    assert tuple(t["total"].values()) == (26, 8032, 1648.4, 45.0, 26.8, 4863.6)
    assert tuple(t["assistant"].values()) == (4, 8000, 1610.2, 10.0, 6.0, 4811.200000000001)
    assert t["over_limit"] == 1 and t["over_limit_lines"] == [5]
    assert out["epochs"] == 20 and out["billed_tokens"] == 86120  # 20 x ~4306
    gpt35 = validate_file(tmp_path / "toy.jsonl", model="gpt-3.5-turbo")  # 16,385 tokens
    assert gpt35.over_limit_lines == () and gpt35.billed_tokens == 20 * 8242


def test_counts_match_the_guide_function(cl100k: Any) -> None:
    """The guide's formula; the encoding itself is checked by its published statistics."""
    examples = [json.loads(line)["messages"] for line in TOY[:4]]
    examples.append([msg("system", "<|endoftext|> is text"), msg("user", "héllo", name="ann")])
    for messages in examples:
        total, assistant, exact = tokens.count_message_tokens(messages, None)
        assert exact and total == _guide_total(cl100k, messages)
        want = sum(len(cl100k.encode(m["content"])) for m in messages if m["role"] == "assistant")
        assert assistant == want
    assert tokens.tokenizer_label("openai:gpt-4o-mini-2024-07-18") == "o200k_base"


def _guide_total(encoding: Any, messages: list[Any]) -> int:
    class Ordinary:  # the guide's encode() refuses special-token text; count it as text
        def encode(self, text: str) -> list[int]:
            return list(encoding.encode_ordinary(text))

    return guide_num_tokens_from_messages(Ordinary(), messages)


def test_tool_calls_and_tools_count_as_json() -> None:
    def chars(text: str) -> int:
        return len(text)

    messages = TOOL_EXAMPLE["messages"]
    total, assistant, exact = tokens.count_message_tokens(messages, "local:m", tokenizer=chars)
    with_tools, _, _ = tokens.count_message_tokens(
        messages, "local:m", tokenizer=chars, tools=TOOL_EXAMPLE["tools"]
    )
    calls = len(json.dumps([CALL]))
    assert exact and assistant == calls + len("It is 42.")
    assert with_tools - total == len(json.dumps(TOOL_EXAMPLE["tools"]))
    weighted = [msg("user", "ab"), msg("assistant", "cd", weight=1)]  # weight is not text
    expected = (3 + 4 + 2) + (3 + 9 + 2) + 3
    assert tokens.count_message_tokens(weighted, "local:m", tokenizer=chars)[0] == expected


def test_estimate_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_tokens, "_encoding", lambda name: None)  # as if tiktoken were missing
    path = write_lines(tmp_path / "d.jsonl", [_chat(("user", "abcdefgh"), ("assistant", "abcde"))])
    total, assistant, exact = tokens.count_message_tokens(json.loads(path.read_text())["messages"])
    # per message 3 + ceil(len(role) / 4) + ceil(len(content) / 4), then 3; assistant ceil(5/4)
    assert (total, assistant, exact) == ((3 + 1 + 2) + (3 + 3 + 2) + 3, 2, False)
    report = validate_file(path, model="gpt-4o-mini")
    assert report.to_json()["tokens"]["exact"] is False
    assert report.to_json()["tokens"]["tokenizer"] == "estimate"
    assert "token counts are estimates" in report.to_text()
    local = validate_file(path, model="local:smollm2")  # no tokenizer given: estimated too
    assert not local.tokens_exact
    custom = validate_file(path, model="local:smollm2", tokenizer=len)
    assert custom.tokens_exact and custom.tokenizer == "custom"
    assert "estimates" not in custom.to_text()


def test_report_billing_advice_and_views(tmp_path: Path) -> None:
    lines = [_chat(("user", "abcd" * 5), ("assistant", "abcd" * 10))] * 10
    lines.append(json.dumps({"messages": [msg("user")]}))
    path = write_lines(tmp_path / "d.jsonl", lines)
    report = validate_file(
        path, model="openai:gpt-4o-mini-2024-07-18", tokenizer=len, max_tokens=60
    )
    per_example = 3 + 4 + 20 + 3 + 9 + 40 + 3  # 82 characters, capped at 60
    assert report.epochs == 9  # 11 examples: 100 // 11
    assert report.billed_tokens == 9 * (10 * 60 + (3 + 4 + 2 + 3))
    assert report.training_cost_usd == pytest.approx(report.billed_tokens * 3.00 / 1e6)
    assert report.over_limit_lines == tuple(range(1, 11)) and report.total_tokens is not None
    assert report.total_tokens.max == per_example
    assert not report.ok and report.errors == {"example_missing_assistant_message": 1}
    out = report.to_json()
    keys = "n_examples errors missing_system missing_user tokens epochs billed_tokens problems"
    assert set(keys.split()) | {"training_cost_usd", "advice"} <= set(out)
    assert {"messages", "total", "assistant", "exact", "over_limit"} <= set(out["tokens"])
    problem = {"line": 11, "category": "example_missing_assistant_message"}
    assert out["problems"] == [{**problem, "message": "no assistant message"}]
    json.dumps(out)  # serialisable as it stands
    text = report.to_text().splitlines()
    assert text[0] == f"{path}:11: example_missing_assistant_message: no assistant message"
    assert any(line.startswith("warning: 11 examples: clear improvements") for line in text)
    assert any("10 examples exceed 60 tokens" in line for line in text)


@pytest.mark.parametrize(("n", "level"), [(5, "error"), (10, "warning"), (50, None)])
def test_example_count_advice(tmp_path: Path, n: int, level: str | None) -> None:
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(GOOD)] * n)
    report = validate_file(path, model="gpt-4.1-mini", tokenizer=len)
    assert [a for a, _ in report.advice] == ([level] if level else [])
    assert report.ok == (level != "error") and report.epochs == guide_epochs(n)
    assert report.training_cost_usd == pytest.approx(report.billed_tokens * 5.00 / 1e6)


def test_distribution_and_model_tables() -> None:
    values = [1, 2, 3, 4, 10]
    d = tokens.Distribution.of(values)
    assert d is not None and (d.min, d.max, d.mean, d.median) == (1, 10, 4.0, 3.0)
    assert (d.p10, d.p90) == (np.quantile(values, 0.1), np.quantile(values, 0.9))
    assert tokens.Distribution.of([]) is None
    assert tokens.token_limit("openai:ft:gpt-4o-mini-2024-07-18:org::abc") == 65_536
    assert tokens.training_price("openai:ft:gpt-4o-mini-2024-07-18:org::abc") == 3.00
    assert tokens.token_limit("gpt-3.5-turbo-0125") == 16_385
    assert tokens.training_price("gpt-3.5-turbo-0125") == 8.00
    assert tokens.training_price("gpt-4.1-mini-2025-04-14") == 5.00
    assert tokens.training_price("gpt-4.1-2025-04-14") == tokens.training_price("gpt-4o") == 25.00
    assert tokens.training_price("local:smollm2") == 0.0
    assert tokens.training_price("some-model") is None and tokens.token_limit(None) == 65_536
    assert tokens.default_epochs(0) == 0
