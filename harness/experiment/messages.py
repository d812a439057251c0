"""The one rule that turns a prompt, a case and its shots into chat messages.

Rendering (:mod:`harness.render`) sends what this builds, and validation
(:mod:`harness.experiment.rules`) renders every case through the same function, so what
``harness validate`` accepts is exactly what a run can render.

Multi-turn style: the system turn, then a user/assistant pair per shot (the shot's fields
through the prompt's user template, its answer as the assistant turn), then the case's
user turn. Inline style: the system turn and one user turn, built by the user template
from the case's fields and ``examples`` (the shots, each with its fields and ``answer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.templating import CompiledTemplate

__all__ = ["Message", "Prompt", "Role", "Shot", "Style", "build_messages", "shot_owners"]

Role = Literal["system", "user", "assistant"]
Style = Literal["multiturn", "inline"]


@dataclass(frozen=True)
class Prompt:
    """A prompt's compiled templates."""

    id: str
    system: CompiledTemplate | None
    user: CompiledTemplate


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Shot:
    """A few-shot example as the templates see it: its fields and its rendered answer."""

    vars: Mapping[str, Any]
    answer: str

    def as_example(self) -> dict[str, Any]:
        """The inline ``examples`` entry: the fields plus ``answer``."""
        return {**self.vars, "answer": self.answer}


def build_messages(
    prompt: Prompt, case_vars: Mapping[str, Any], shots: Sequence[Shot], style: Style
) -> tuple[Message, ...]:
    """The messages for one case shown ``shots`` (raises ``TemplateError``)."""
    messages: list[Message] = []
    if prompt.system is not None:
        system = prompt.system.render(case_vars)
        if system:
            messages.append(Message("system", system))
    if style == "inline":
        examples = [shot.as_example() for shot in shots]
        messages.append(Message("user", prompt.user.render({**case_vars, "examples": examples})))
        return tuple(messages)
    for shot in shots:
        messages.append(Message("user", prompt.user.render(shot.vars)))
        messages.append(Message("assistant", shot.answer))
    messages.append(Message("user", prompt.user.render(case_vars)))
    return tuple(messages)


def shot_owners(count: int, shots: Sequence[str], style: Style) -> tuple[str | None, ...]:
    """For each of the ``count`` messages :func:`build_messages` built, the shot it shows.

    Multi-turn: the user/assistant pair before the case's own turn belongs to each shot,
    in order. Inline: the shots are inside the one user turn, so no message is a shot's.
    """
    owners: list[str | None] = [None] * count
    if style == "multiturn" and shots and count >= 2 * len(shots) + 1:
        start = count - 1 - 2 * len(shots)
        for i, shot in enumerate(shots):
            owners[start + 2 * i] = owners[start + 2 * i + 1] = shot
    return tuple(owners)
