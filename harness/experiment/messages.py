"""The one rule that turns a prompt, a case and its shots into chat messages.

Rendering (:mod:`harness.render`) sends what this builds, and validation
(:mod:`harness.experiment.rules`) renders every case through the same function, so what
``harness validate`` accepts is exactly what a run can render.

A prompt is a list of turns (``system``/``user``, a template file's blocks, or a
``messages:`` list), each a template rendered with the case's fields; a prompt may also
take the conversation itself from a case field (``messages_from``), sent as it is after
the prompt's own turns. Multi-turn style: the shots go before the last user message, each
as the messages that ask it (the prompt's last user template over the shot's fields, or the
shot's own conversation) and its answer as an assistant turn. Inline style: every template
sees ``examples`` (the shots, each with its fields and ``answer``) and no turn is added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.errors import Location, TemplateError
from harness.templating import CompiledTemplate

__all__ = [
    "ROLES",
    "Message",
    "Prompt",
    "Role",
    "Shot",
    "Style",
    "Turn",
    "build_messages",
    "conversation",
]

Role = Literal["system", "user", "assistant"]
Style = Literal["multiturn", "inline"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class Turn:
    """One of a prompt's own messages: a role and the template of its content."""

    role: Role
    template: CompiledTemplate


@dataclass(frozen=True)
class Prompt:
    """A prompt's compiled turns, and the case field its conversation comes from, if any."""

    id: str
    turns: tuple[Turn, ...]
    messages_from: str | None = None
    #: Where ``messages_from`` is written: a case whose field is not a conversation is
    #: reported there.
    location: Location | None = None

    @classmethod
    def of(cls, id: str, system: CompiledTemplate | None, user: CompiledTemplate) -> Prompt:
        """The classic prompt: an optional system turn and a user turn."""
        turns = ((Turn("system", system),) if system is not None else ()) + (Turn("user", user),)
        return cls(id, turns)

    @property
    def user(self) -> CompiledTemplate | None:
        """The last user template: it asks each shot's question in multi-turn style."""
        return next((t.template for t in reversed(self.turns) if t.role == "user"), None)


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    #: The pool id of the shot this message shows (None: the prompt's or the case's own).
    shot: str | None = field(default=None, compare=False)
    #: A participant's name, as a case's conversation may give it (OpenAI's ``name``).
    name: str | None = None

    def to_dict(self) -> dict[str, str]:
        if self.name is None:
            return {"role": self.role, "content": self.content}
        return {"role": self.role, "content": self.content, "name": self.name}


@dataclass(frozen=True)
class Shot:
    """A few-shot example as the templates see it: its fields and its rendered answer."""

    vars: Mapping[str, Any]
    answer: str
    id: str | None = None

    def as_example(self) -> dict[str, Any]:
        """The inline ``examples`` entry: the fields plus ``answer``."""
        return {**self.vars, "answer": self.answer}


def conversation(
    value: Any, name: str, where: Location | None, shot: str | None = None
) -> list[Message]:
    """A record's ``name`` field as messages; ``TemplateError`` when it is not a conversation."""
    ok = isinstance(value, list) and bool(value)
    for item in value if ok else ():
        if not (
            isinstance(item, Mapping)
            and item.get("role") in ROLES
            and isinstance(item.get("content"), str)
        ):
            ok = False
            break
    if not ok:
        raise TemplateError(
            where or Location("<prompt>"),
            f"field {name!r} must be a non-empty list of {{role, content}} messages "
            f"(roles: {', '.join(ROLES)}; content: text)",
        )
    return [Message(item["role"], item["content"], shot, _name(item.get("name"))) for item in value]


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _shot_messages(prompt: Prompt, shot: Shot) -> list[Message]:
    if prompt.messages_from is not None:
        asked = conversation(
            shot.vars.get(prompt.messages_from), prompt.messages_from, prompt.location, shot.id
        )
    else:
        user = prompt.user
        assert user is not None, "a prompt without messages_from has a user turn"
        asked = [Message("user", user.render(shot.vars), shot.id)]
    return [*asked, Message("assistant", shot.answer, shot.id)]


def build_messages(
    prompt: Prompt, case_vars: Mapping[str, Any], shots: Sequence[Shot], style: Style
) -> tuple[Message, ...]:
    """The messages for one case shown ``shots`` (raises ``TemplateError``)."""
    inline = style == "inline"
    values = {**case_vars, "examples": [s.as_example() for s in shots]} if inline else case_vars
    messages: list[Message] = []
    for turn in prompt.turns:
        text = turn.template.render(values if turn.role != "system" else case_vars)
        if text or turn.role != "system":  # an empty system prompt is left out
            messages.append(Message(turn.role, text))
    if prompt.messages_from is not None:
        field_name = prompt.messages_from
        messages += conversation(case_vars.get(field_name), field_name, prompt.location)
    if inline or not shots:
        return tuple(messages)
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    at = users[-1] if users else len(messages)
    shown = [m for shot in shots for m in _shot_messages(prompt, shot)]
    return tuple(messages[:at] + shown + messages[at:])
