"""OpenAI Evals' model-graded evals (``ModelBasedClassify``) as ``judge`` checks.

Evals fills the spec's ``prompt`` (``evals/registry/modelgraded/*.yaml``) with
``str.format``: ``{input}`` is the sample's conversation as text, ``{completion}`` the
model's answer, ``{ideal}`` and any other name a sample field or a ``modelgraded_spec_args``
value (those win). The grader answers one of ``choice_strings`` and the sample scores that
choice's ``choice_scores`` value. Here the same prompt becomes the judge's rubric: sample
fields are Jinja placeholders over the case, ``{completion}`` points at the response the
judge is shown, and a last sentence says which choices are a PASS (those with the highest
score) and which a FAIL. What cannot be said that way is an error naming why.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from harness.errors import ExperimentError, Location, Problem
from harness.experiment._yaml import YamlDocument
from harness.importers._common import ImportedSuite, inside, read_yaml

__all__ = ["CLASS", "conversation_text", "judge_check"]

CLASS = "evals.elsuite.modelgraded.classify:ModelBasedClassify"
#: eval_type values whose answer instructions only say "a choice, with or without reasoning"
#: (classify_utils.ANSWER_PROMPTS): the judge's own reply format covers them.
_EVAL_TYPES = ("classify", "cot_classify", "classify_cot")
_COMPLETION = "(the response given between the <response> tags below)"


def conversation_text(messages: list[dict[str, str]]) -> str:
    """The conversation as Evals writes it into a grader prompt.

    ``chat_prompt_to_text_prompt(..., for_completion=False)``: one message is its content;
    otherwise each message on its own line, system ones bare, others prefixed by their name
    or role (``example_user`` as ``User: ``).
    """
    if len(messages) == 1:
        return messages[0]["content"]
    prefixes = {"system": "", "example_user": "User: ", "example_assistant": "Assistant: "}
    text = ""
    for m in messages:
        role = m.get("name") or m["role"]
        text += prefixes.get(role, role.capitalize() + ": ") + m["content"] + "\n"
    return text.lstrip()


def _find_spec(registry: Path, name: str, where: Location) -> tuple[YamlDocument, dict[str, Any]]:
    """The spec ``name``: in ``modelgraded/NAME.yaml``, else in any file of that folder."""
    folder = inside(registry, "modelgraded", registry, where)
    first = inside(folder, f"{name}.yaml", registry, where)
    paths = [first] if first.is_file() else []
    for other in sorted(folder.glob("*.yaml")):
        resolved = other.resolve()
        if registry.resolve() in resolved.parents and resolved not in paths:
            paths.append(resolved)  # a link out of the registry is never read
    for path in paths:
        doc = read_yaml(path)
        if isinstance(doc.data, dict) and isinstance(doc.data.get(name), dict):
            return doc, doc.data[name]
    raise ExperimentError([Problem(where, f"no model-graded spec {name!r} in {folder}")])


def _choices(spec: dict[str, Any]) -> list[str] | None:
    given = spec.get("choice_strings")
    if isinstance(given, str) and not given.startswith("from_n"):
        return list(given)  # Evals iterates a string: 'YN' is "Y" and "N"
    if isinstance(given, list) and given and all(isinstance(c, str) for c in given):
        return list(given)
    return None


def _split(spec: dict[str, Any], choices: list[str]) -> tuple[list[str], list[str]] | str:
    """The choices that pass (the highest score) and those that fail, or why there is none."""
    scores = spec.get("choice_scores")
    if scores is None:
        return "the spec has no `choice_scores` (Evals only counts its choices)"
    try:
        if scores == "from_strings":
            scores = {c: float(c) for c in choices}
        values = {c: float(scores[c]) for c in choices}
    except (KeyError, TypeError, ValueError, AttributeError):
        return f"`choice_scores` {scores!r} does not give a number for each of {choices}"
    if len(set(values.values())) != 2:
        return f"`choice_scores` {scores!r} is not a pass/fail split (two different scores)"
    top = max(values.values())
    return [c for c in choices if values[c] == top], [c for c in choices if values[c] != top]


def _prompt_text(prompt: Any) -> str | None:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(m, dict) for m in prompt):
        parts = [m.get("content") for m in prompt]
        if all(isinstance(p, str) for p in parts):
            return "\n\n".join(str(p) for p in parts)
    return None


def judge_check(
    doc: YamlDocument, name: str, args: dict[str, Any], registry: Path, suite: ImportedSuite
) -> dict[str, Any]:
    """The ``judge`` assertion for eval ``name`` (in ``doc``); warnings go to ``suite``."""
    at = doc.locate((name, "args", "modelgraded_spec"))
    spec_name = args.get("modelgraded_spec")
    if not isinstance(spec_name, str):
        raise ExperimentError([Problem(at, "the eval has no `modelgraded_spec` argument")])
    spec_doc, spec = _find_spec(registry, spec_name, at)
    problems: list[Problem] = []

    def bad(where: Location, message: str) -> None:
        problems.append(Problem(where, f"model-graded spec {spec_name!r}: {message}"))

    def spec_at(*key: str) -> Location:
        return spec_doc.locate((spec_name, *key))

    for key, why in (
        ("metaeval", "grades the grader against labelled choices"),
        ("multicomp_n", "grades several completions together"),
    ):
        if args.get(key) not in (None, False, 1):
            bad(doc.locate((name, "args", key)), f"`{key}` {why}: not importable")
    if spec.get("input_outputs", {"input": "completion"}) != {"input": "completion"}:
        bad(spec_at("input_outputs"), "only `input_outputs: {input: completion}` is importable")
    choices = _choices(spec)
    split = _split(spec, choices) if choices else "`choice_strings` is not a list of choices"
    if isinstance(split, str):
        bad(spec_at("choice_scores" if choices else "choice_strings"), split)
    text = _prompt_text(spec.get("prompt"))
    if text is None:
        bad(spec_at("prompt"), "`prompt` is neither text nor a list of messages with text")
        text = ""
    given = args.get("modelgraded_spec_args")
    extra: dict[str, Any] = given if isinstance(given, dict) else {}
    rubric = ""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as exc:
        bad(spec_at("prompt"), f"`prompt` is not a format string ({exc})")
        fields = []
    for literal, field, _, _ in fields:
        rubric += literal.replace("{", "{{ '{' }}")  # Jinja would read it as a tag
        if field is None:
            continue
        if field in extra:
            value = extra[field]
            where = doc.locate((name, "args", "modelgraded_spec_args", field))
            if isinstance(value, dict) and len(value) != 1:
                keys = ", ".join(map(str, value))
                bad(where, f"`{field}` has {len(value)} entries ({keys}): import one at a time")
                continue
            if isinstance(value, dict):
                value = next(iter(value.values()))
                suite.warn(
                    where,
                    f"`{field}` is one named entry: its text is used (Evals "
                    "writes the mapping itself into the prompt)",
                )
            rubric += str(value).replace("{", "{{ '{' }}")
        elif field in ("input", "ideal"):
            rubric += "{{ input_text }}" if field == "input" else "{{ ideal }}"
        elif field == "completion":
            rubric += _COMPLETION
        else:
            bad(
                spec_at("prompt"),
                f"`{{{field}}}` is neither input, ideal, completion "
                "nor a `modelgraded_spec_args` key",
            )
    if problems:
        raise ExperimentError(problems)
    assert not isinstance(split, str)
    passing, failing = (" or ".join(f'"{c}"' for c in group) for group in split)
    rubric = rubric.rstrip() + (
        f"\n\nVerdict: where your answer above would be {passing}, the verdict is PASS; where "
        f"it would be {failing}, FAIL. Give the verdict (PASS or FAIL), not the answer."
    )
    _warn(doc, name, args, spec, spec_name, passing, suite)
    return {"judge": {"rubric": rubric}}


def _warn(
    doc: YamlDocument,
    name: str,
    args: dict[str, Any],
    spec: dict[str, Any],
    spec_name: str,
    passing: str,
    suite: ImportedSuite,
) -> None:
    eval_type = args.get("eval_type") or spec.get("eval_type")
    if eval_type is not None and eval_type not in _EVAL_TYPES:
        where = doc.locate((name, "args", "eval_type"))
        suite.warn(
            where,
            f"eval_type {eval_type!r}: its answer instructions are not carried "
            "over (the judge answers in its own format)",
        )
    for key in ("match_fn", "eval_kwargs"):
        if key in args:
            suite.warn(
                doc.locate((name, "args", key), key=True),
                f"`{key}` (how Evals asks and reads its grader) is not carried over",
            )
    suite.warn(
        doc.locate((name, "class")),
        f"model-graded with spec {spec_name!r}: imported as a `judge` check with the spec's "
        f"prompt, {passing} as PASS; the judge's verdict format (JSON PASS/FAIL) and prompt "
        "wrapper differ from Evals' (a choice parsed from the reply), so scores may differ; "
        "the judge is the experiment's default model unless `model:` names another",
    )
