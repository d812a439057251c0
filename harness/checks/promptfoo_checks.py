"""Checks that grade exactly as promptfoo's assertions of the same name do.

``harness import promptfoo`` maps promptfoo assertions onto checks; where no existing
check has promptfoo's rule, it is here (the rules, with their place in promptfoo's source,
are in ``tests/importers/fixtures/promptfoo/SEMANTICS.md``):

- ``contains_any`` / ``contains_all`` (and ``icontains_any`` / ``icontains_all``, which
  lower both sides first): the argument is a list, or one string split at commas the way
  promptfoo's ``parseCommaSeparatedValues`` splits it (fields trimmed, empty fields
  dropped, ``"a, b"`` quoted to keep a comma). An empty list never contains "any" and
  always contains "all", as in promptfoo; an empty string is an error.
- ``contains_json``: the output holds a JSON *object* somewhere: from each ``{``, the
  shortest slice that parses (``extractJsonObjects``; arrays and bare values are not
  found). With a JSON Schema, one of the objects found must match it.
- ``levenshtein: {value, threshold}``: the edit distance, counted in UTF-16 code units as
  JavaScript's ``fastest-levenshtein`` counts, is at most ``threshold`` (default 5).

They are registered in :data:`harness.checks.builtin.CHECKS` with the other checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.errors import CheckError

__all__ = [
    "contains_all",
    "contains_any",
    "contains_json",
    "extract_json_objects",
    "icontains_all",
    "icontains_any",
    "levenshtein",
    "parse_comma_separated",
]

Verdict = tuple[bool, str, float | None]

#: promptfoo stops looking for the end of an object this many characters after its ``{``.
MAX_JSON_LENGTH = 100_000


def _quote(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[: limit - 1] + "…")


def parse_comma_separated(value: str) -> list[str]:
    """promptfoo's ``parseCommaSeparatedValues``: comma-separated fields, quotes kept together."""
    fields: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            break
        if value[i] != '"':
            end = value.find(",", i)
            end = n if end < 0 else end
            fields.append(value[i:end].strip())
            i = end
            continue
        field, i = _quoted(value, i)
        fields.append(field)
        while i < n and value[i].isspace():
            i += 1
        if i < n and value[i] != ",":
            raise CheckError("expected a comma after a quoted value")
    return fields


def _quoted(value: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(value):
        nxt = value[i + 1] if i + 1 < len(value) else ""
        if value[i] == "\\" and nxt in ('"', "\\") and nxt:
            out.append(nxt)
            i += 2
        elif value[i] == '"' and nxt == '"':
            out.append('"')
            i += 2
        elif value[i] == '"':
            return "".join(out), i + 1
        else:
            out.append(value[i])
            i += 1
    raise CheckError("a quoted value is not terminated")


def _values(arg: Any, name: str) -> list[str]:
    if isinstance(arg, str):
        if arg == "":
            raise CheckError(f"{name} needs a value")
        return parse_comma_separated(arg)
    if isinstance(arg, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in arg]
    raise CheckError(f"{name} takes a list of values or one comma-separated string, not {arg!r}")


def _any(output: str, arg: Any, name: str, fold: bool) -> Verdict:
    values = _values(arg, name)
    got = output.lower() if fold else output
    ok = any((v.lower() if fold else v) in got for v in values)
    case = " (ignoring case)" if fold else ""
    return ok, "" if ok else f"{_quote(output)} contains none of {values!r}{case}", None


def _all(output: str, arg: Any, name: str, fold: bool) -> Verdict:
    values = _values(arg, name)
    got = output.lower() if fold else output
    missing = [v for v in values if (v.lower() if fold else v) not in got]
    case = " (ignoring case)" if fold else ""
    return not missing, "" if not missing else f"{_quote(output)} lacks {missing!r}{case}", None


def contains_any(output: str, arg: Any, ctx: object) -> Verdict:
    return _any(output, arg, "contains_any", fold=False)


def icontains_any(output: str, arg: Any, ctx: object) -> Verdict:
    return _any(output, arg, "icontains_any", fold=True)


def contains_all(output: str, arg: Any, ctx: object) -> Verdict:
    return _all(output, arg, "contains_all", fold=False)


def icontains_all(output: str, arg: Any, ctx: object) -> Verdict:
    return _all(output, arg, "icontains_all", fold=True)


def _js_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JavaScript's JSON.parse rejects NaN, Infinity


def extract_json_objects(text: str) -> list[Any]:
    """promptfoo's ``extractJsonObjects``: from each ``{``, the shortest prefix that parses.

    A parse can only end at a ``}``, so only those ends are tried (the result is the same).
    """
    found: list[Any] = []
    i = 0
    while i < len(text):
        if text[i] == "{":
            stop = min(i + MAX_JSON_LENGTH, len(text))
            end = text.find("}", i + 1, stop)
            while end >= 0:
                try:
                    found.append(json.loads(text[i : end + 1], parse_constant=_js_constant))
                except ValueError:
                    end = text.find("}", end + 1, stop)
                    continue
                i = end
                break
        i += 1
    return found


def contains_json(output: str, arg: Any, ctx: object) -> Verdict:
    objects = extract_json_objects(output)
    if not objects:
        return False, f"no JSON object in {_quote(output)}", None
    if not isinstance(arg, Mapping):  # no schema: any object will do
        return True, "", None
    import jsonschema

    problems = []
    for data in objects:
        try:
            jsonschema.validate(data, dict(arg))
            return True, "", None
        except jsonschema.ValidationError as exc:
            problems.append(exc.message)
    return False, f"no JSON object in the output matches the schema: {problems[-1]}", None


def _utf16(text: str) -> list[int]:
    raw = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(raw[k : k + 2], "little") for k in range(0, len(raw), 2)]


def levenshtein(output: str, arg: Any, ctx: object) -> Verdict:
    from rapidfuzz.distance import Levenshtein

    spec = arg if isinstance(arg, Mapping) else {"value": arg}
    value = spec["value"]
    if not isinstance(value, str):
        raise CheckError(f"levenshtein compares with text, not {value!r}")
    threshold = float(spec.get("threshold", 5))
    distance = Levenshtein.distance(_utf16(output), _utf16(value))
    ok = distance <= threshold
    reason = "" if ok else f"edit distance {distance} > {threshold:g} from {_quote(value)}"
    return ok, reason, None
