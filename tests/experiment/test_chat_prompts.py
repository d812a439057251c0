"""Chat-message prompts: a ``messages:`` list, and conversations taken from a case field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import ExperimentError
from harness.experiment import load_experiment
from harness.finetune.prepare import prepare_training_data
from harness.render import render_variant
from tests.conftest import WriteFiles

POOL = """
examples:
  answer: "{{ answer }}"
  match_on: country
  items:
    - {id: e1, country: France, answer: Paris,
       talk: [{role: user, content: "Capital of France?"}]}
    - {id: e2, country: Spain, answer: Madrid,
       talk: [{role: user, content: "Capital of Spain?"}]}
"""
CASE = """
tests:
  items:
    - id: c1
      country: Italy
      expected: Rome
      talk:
        - {role: user, content: Hi}
        - {role: assistant, content: Hello}
        - {role: user, content: "Capital of Italy?"}
  assert: [{equals: "{{ expected }}"}]
"""


def _write(write: WriteFiles, head: str, *parts: str) -> Path:
    return write({"e.yaml": textwrap.dedent(head) + "".join(parts)})


def _messages(exp: object, variant_id: str) -> list[tuple[str, str, str | None]]:
    from harness.experiment import Experiment

    assert isinstance(exp, Experiment)
    variant = next(v for v in exp.variants if v.id.startswith(variant_id))
    rendered = render_variant(exp, variant, exp.cases[0])
    return [(m.role, m.content, m.shot) for m in rendered.messages]


def test_a_messages_prompt_puts_shots_before_its_last_user_message(write: WriteFiles) -> None:
    path = _write(
        write,
        """
            name: chat
            prompts:
              - id: chat
                messages:
                  - {role: system, content: "One word. Today: {{ day }}."}
                  - {role: user, content: "Be brief."}
                  - {role: assistant, content: "Sure."}
                  - {role: user, content: "Capital of {{ country }}?"}
            shots: [0, 2]
            selectors: [first]
            """,
        POOL,
        CASE.replace("expected: Rome", "expected: Rome\n      day: Monday"),
    )
    exp = load_experiment(path)
    own = [
        ("system", "One word. Today: Monday.", None),
        ("user", "Be brief.", None),
        ("assistant", "Sure.", None),
    ]
    assert _messages(exp, "chat/k0/") == [*own, ("user", "Capital of Italy?", None)]
    assert _messages(exp, "chat/k2/") == [
        *own,
        ("user", "Capital of France?", "e1"),
        ("assistant", "Paris", "e1"),
        ("user", "Capital of Spain?", "e2"),
        ("assistant", "Madrid", "e2"),
        ("user", "Capital of Italy?", None),
    ]


def test_inline_style_gives_every_message_the_examples(write: WriteFiles) -> None:
    path = _write(
        write,
        """
            name: chat
            style: inline
            prompts:
              - id: chat
                messages:
                  - {role: system, content: "One word."}
                  - role: user
                    content: >-
                      {% for e in examples %}{{ e.country }}: {{ e.answer }}. {% endfor %}{{ country }}:
            shots: [2]
            selectors: [first]
            """,
        POOL,
        CASE,
    )
    assert _messages(load_experiment(path), "chat/k2/") == [
        ("system", "One word.", None),
        ("user", "France: Paris. Spain: Madrid. Italy:", None),
    ]


def test_a_conversation_from_the_case_with_shots_from_the_pool(write: WriteFiles) -> None:
    path = _write(
        write,
        """
            name: convo
            prompts: [{id: convo, system: Be brief., messages_from: talk}]
            shots: [0, 1]
            selectors: [first]
            """,
        POOL,
        CASE,
    )
    exp = load_experiment(path)
    case = [("user", "Hi", None), ("assistant", "Hello", None)]
    assert _messages(exp, "convo/k1/") == [
        ("system", "Be brief.", None),
        *case,
        ("user", "Capital of France?", "e1"),
        ("assistant", "Paris", "e1"),
        ("user", "Capital of Italy?", None),
    ]
    # fine-tuning data: each pool item's conversation, answered
    data = prepare_training_data(exp, "convo", validation_fraction=0)
    assert sorted(example["messages"][1]["content"] for example in data.train) == [
        "Capital of France?",
        "Capital of Spain?",
    ]
    assert all(ex["messages"][-1]["role"] == "assistant" for ex in data.train)


def test_a_case_whose_field_is_not_a_conversation_is_located(write: WriteFiles) -> None:
    path = write(
        {
            "e.yaml": """
            name: convo
            prompts: [{id: convo, messages_from: talk}]
            tests:
              items:
                - {id: ok, talk: [{role: user, content: hi}]}
                - {id: bad, talk: "hi"}
                - {id: worse, talk: [{role: robot, content: hi}]}
            """
        }
    )
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    (problem,) = [p for p in info.value.problems if p.severity == "error"]
    assert (problem.location.line, problem.location.col) == (2, 38)  # at `talk`
    assert "field 'talk' must be a non-empty list of {role, content} messages" in problem.message
    assert "[prompt convo, case bad] (and 1 more)" in problem.message


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("{id: p, messages: [{role: system, content: x}]}", "needs at least one user message"),
        ("{id: p, user: x, messages: [{role: user, content: x}]}", "give either `file`"),
        ("{id: p, user: x, messages_from: talk}", "give the prompt's leading turns"),
        ("{id: p, messages: [{role: robot, content: x}]}", "'system', 'user' or 'assistant'"),
        ("{id: p, messages: [{role: user, content: '{{ x'}]}", "template"),
    ],
)
def test_malformed_chat_prompts_are_located(write: WriteFiles, prompt: str, message: str) -> None:
    path = write({"e.yaml": f"name: x\nprompts: [{prompt}]\ntests: {{items: [{{x: 1}}]}}\n"})
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    errors = [p for p in info.value.problems if p.severity == "error"]
    assert any(message in p.message and p.location.line == 2 for p in errors), errors
