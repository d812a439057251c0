"""Rendering variants into the exact messages sent: multi-turn and inline styles."""

from __future__ import annotations

from harness.experiment import load_experiment
from harness.render import render_variant, render_variants
from tests.conftest import EXPERIMENTS, WriteFiles


def test_multiturn_shape(write: WriteFiles) -> None:
    path = write(
        {
            "e.yaml": """
        name: t
        prompts: [{id: p, system: "Sys {{ tone }}", user: "Q: {{ input }}"}]
        examples:
          answer: "A: {{ expected }}"
          items:
            - {id: e1, input: one, expected: "1", tone: x}
            - {id: e2, input: two, expected: "2", tone: x}
        shots: [2]
        selectors: [first]
        tests: {items: [{id: c, input: three, tone: calm}]}
        """
        }
    )
    exp = load_experiment(path)
    (variant,) = exp.variants
    rendered = render_variant(exp, variant, exp.cases[0])
    assert [(m.role, m.content) for m in rendered.messages] == [
        ("system", "Sys calm"),
        ("user", "Q: one"),
        ("assistant", "A: 1"),
        ("user", "Q: two"),
        ("assistant", "A: 2"),
        ("user", "Q: three"),
    ]
    assert rendered.shots == ("e1", "e2")


def test_inline_style_gets_examples_with_answers() -> None:
    exp = load_experiment(EXPERIMENTS / "sentiment.yaml")
    variant = next(v for v in exp.variants if v.shots == 3)
    rendered = render_variant(exp, variant, exp.cases[0])
    assert [m.role for m in rendered.messages] == ["system", "user"]
    user = rendered.messages[-1].content
    assert user.count("Sentiment:") == 4 and user.endswith("Sentiment:")
    assert exp.cases[0].vars["input"] in user


def test_zero_shot_and_all_renders_are_deterministic() -> None:
    exp = load_experiment(EXPERIMENTS / "date_iso.yaml")
    first = list(render_variants(exp, exp.variants))
    second = list(render_variants(exp, exp.variants))
    assert first == second
    assert len(first) == len(exp.variants) * len(exp.cases)
    zero = [r for r in first if r.variant.startswith("terse/k0/")]
    assert all(len(r.messages) == 2 and not r.shots for r in zero)
