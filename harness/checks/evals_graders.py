"""Checks that grade exactly as OpenAI Evals' basic evals do (Match, Includes, FuzzyMatch).

Each takes one ideal or a list of them and passes when any ideal matches, as Evals does:

- ``starts_with_any`` is ``Match``: the output, exactly as the model gave it (no strip, no
  case folding), ``startswith`` an ideal;
- ``includes`` is ``Includes``: an ideal occurs in the output; with ``ignore_case``, both
  are lowered with ``str.lower`` (not ``casefold``) first;
- ``fuzzy_match`` is ``FuzzyMatch``: both are normalised (lowercase, ASCII punctuation
  removed, the words a/an/the removed, whitespace collapsed), then either contains the
  other; an output or ideal that normalises to nothing matches only another such.

They are registered in :data:`harness.checks.builtin.CHECKS` with the other checks. The
rules, with their place in the Evals source, are in
``tests/importers/fixtures/openai_evals/GRADING.md``.

Arguments are templates, and a template renders to text: ``"{{ ideal }}"`` over a list
field gives the list's Python text, and over a string it gives the string stripped. Evals
uses an ideal verbatim, so when the rendered text is exactly what ``{{ field }}`` renders
for one of the case's fields, these checks use that field's own value: the list itself,
or the string with its surrounding whitespace.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from harness.errors import CheckError

__all__ = ["as_flag", "evals_normalize", "fuzzy_match", "includes", "starts_with_any"]

Verdict = tuple[bool, str, float | None]

FLAG_WORDS = {"true": True, "false": False}
_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


class _Context(Protocol):
    @property
    def case_vars(self) -> Mapping[str, Any]: ...


def _quote(text: str, limit: int = 60) -> str:
    """``text`` quoted, escapes and surrounding whitespace visible, cut at ``limit``."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 1] + "…")


def _field_value(text: str, fields: Mapping[str, Any]) -> Any:
    """The case field whose ``{{ field }}`` rendering is ``text`` (a list or a string).

    Only when exactly one field value renders so; otherwise ``text`` itself.
    """
    found = {
        (type(value), repr(value)): value
        for value in fields.values()
        if isinstance(value, (str, list)) and str(value).strip() == text
    }
    return next(iter(found.values())) if len(found) == 1 else text


def _ideals(arg: Any, ctx: _Context) -> list[str]:
    value = _field_value(arg, ctx.case_vars) if isinstance(arg, str) else arg
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise CheckError(f"ideals must be a string or a list of strings, not {value!r}")
    ideals = []
    for n, item in enumerate(value, start=1):
        item = _field_value(item, ctx.case_vars) if isinstance(item, str) else item
        if not isinstance(item, str):
            raise CheckError(f"ideal {n} must be a string, not {item!r}")
        ideals.append(item)
    return ideals


def _listing(ideals: list[str], show: Callable[[str], str] = _quote) -> str:
    if len(ideals) == 1:
        return show(ideals[0])
    shown = ", ".join(show(i) for i in ideals[:3])
    more = f", … ({len(ideals) - 3} more)" if len(ideals) > 3 else ""
    return f"any of {len(ideals)} ideals: {shown}{more}"


def _verdict(ok: bool, ideals: list[str], failure: Callable[[], str]) -> Verdict:
    if ok:
        return True, "", None
    if not ideals:
        return False, "no ideals to compare with (an empty list never matches)", None
    return False, failure(), None


def as_flag(value: Any) -> bool | None:
    """``true``/``false`` as a bool (YAML keeps them as text here), else None."""
    if isinstance(value, bool):
        return value
    return FLAG_WORDS.get(value.strip().lower()) if isinstance(value, str) else None


def starts_with_any(output: str, arg: Any, ctx: _Context) -> Verdict:
    """Evals ``Match``: ``record_and_check_match`` picks the first ideal the output starts with."""
    ideals = _ideals(arg, ctx)
    ok = any(output.startswith(ideal) for ideal in ideals)
    return _verdict(ok, ideals, lambda: f"{_quote(output)} does not start with {_listing(ideals)}")


def includes(output: str, arg: Any, ctx: _Context) -> Verdict:
    """Evals ``Includes``: ``utils.get_answer`` finds an ideal (``rfind``) in the output."""
    spec = arg if isinstance(arg, Mapping) else {"value": arg}
    ignore_case = as_flag(spec.get("ignore_case", False))
    if ignore_case is None:
        raise CheckError(
            f"includes: ignore_case must be true or false, not {spec['ignore_case']!r}"
        )
    ideals = _ideals(spec["value"], ctx)
    if ignore_case:
        ok = any(ideal.lower() in output.lower() for ideal in ideals)
    else:
        ok = any(ideal in output for ideal in ideals)
    case = " (ignoring case)" if ignore_case else ""
    return _verdict(
        ok, ideals, lambda: f"{_quote(output)} does not include {_listing(ideals)}{case}"
    )


def evals_normalize(text: str) -> str:
    """Evals ``utils.normalize``: lower, drop punctuation, then articles, squeeze spaces."""
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _fuzzy(a: str, b: str) -> bool:
    if a == "" or b == "":
        return a == b
    return a in b or b in a


def fuzzy_match(output: str, arg: Any, ctx: _Context) -> Verdict:
    """Evals ``FuzzyMatch``: ``utils.fuzzy_match`` with any ideal, either way round."""
    ideals = _ideals(arg, ctx)
    got = evals_normalize(output)
    ok = any(_fuzzy(got, evals_normalize(ideal)) for ideal in ideals)

    def failure() -> str:
        def show(ideal: str) -> str:
            return f"{_quote(ideal)} → {_quote(evals_normalize(ideal))}"

        return (
            f"{_quote(output)}, normalised to {_quote(got)}, neither contains nor is "
            f"contained in {_listing(ideals, show)}"
        )

    return _verdict(ok, ideals, failure)
