"""Pydantic validation errors as located, human problems (with did-you-mean for typos)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.errors import Problem
from harness.experiment._yaml import Path_, YamlDocument

__all__ = ["schema_problems"]


def schema_problems(
    exc: ValidationError,
    doc: YamlDocument,
    model: type[BaseModel],
    prefix: Path_ = (),
    *,
    also_allowed: Iterable[str] = (),
) -> list[Problem]:
    """One problem per pydantic error, located in ``doc`` (``prefix`` is the model's path).

    ``also_allowed`` names keys valid beside ``model``'s own (offered as did-you-means).
    """
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = (*prefix, *loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            beside = set(also_allowed) if len(loc) == 1 else set()
            allowed = sorted(_fields_at(model, loc[:-1]) | beside)
            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            message = f"unknown key '{key}'" + (f"; did you mean '{hint[0]}'?" if hint else "")
            if allowed and not hint:
                message += f" (allowed: {', '.join(allowed)})"
            out.append(Problem(doc.locate(path, key=True), message))
        elif kind == "missing":
            where = _dotted(path[:-1])
            message = f"missing required key '{loc[-1]}'" + (f" in {where}" if where else "")
            out.append(Problem(doc.locate(path[:-1]), message))
        else:
            message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            where = _dotted(path)
            out.append(Problem(doc.locate(path), f"{where}: {message}" if where else message))
    return out


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return []
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """The keys allowed at ``loc`` (aliases where a field has one)."""
    current = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        following: list[type[BaseModel]] = []
        for m in current:
            for name, info in m.model_fields.items():
                if part in (name, info.alias):
                    following.extend(_models_in(info.annotation))
        current = following
    return {info.alias or name for m in current for name, info in m.model_fields.items()}
