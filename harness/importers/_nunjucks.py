"""promptfoo's Nunjucks templates as the harness's Jinja2 templates, or why not.

The two share ``{{ var }}``, ``{% if %}``, ``{% for %}``, ``loop.index`` and most filters,
so most templates carry over unchanged. What differs and is translated: ``| dump`` (JSON
text) is Jinja's ``| tojson``. What differs and cannot be translated is refused, so the
import never silently renders something else: promptfoo's own filters (``load`` and
user ``nunjucksFilters``), any filter or test Jinja lacks, ``{% for k, v in obj %}``
(Nunjucks walks a mapping's items, Jinja would unpack its keys), and ``include``/
``extends``/``import`` (they read other files).
"""

from __future__ import annotations

import re

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from harness.errors import Location

__all__ = ["DUMP_DIFFERS", "in_file", "translate", "uses_dump"]

_ENV = SandboxedEnvironment()
_FILTER = re.compile(r"\|\s*([A-Za-z_]\w*)")
_TEST = re.compile(r"\bis\s+(?:not\s+)?([A-Za-z_]\w*)")
_TAG = re.compile(r"\{%-?\s*(\w+)(.*?)-?%\}", re.DOTALL)
_EXPR = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_PAIR_LOOP = re.compile(r"^\s*\w+\s*,\s*\w+\s+in\b")
_DUMP = re.compile(r"\{[{%][^}]*\|\s*dump\b")
DUMP_DIFFERS = (
    "`| dump` became `| tojson`, which sorts keys, writes `, ` and `: `, and escapes "
    "non-ASCII and <>&' as \\uXXXX (JSON.stringify does none of these); numbers and plain "
    "ASCII strings render the same"
)


def translate(template: str) -> tuple[str | None, str, int]:
    """(the Jinja text, "", 0) or (None, why it cannot be translated, where: an offset)."""
    for tag_match in _TAG.finditer(template):
        tag, rest = tag_match.groups()
        at = tag_match.start()
        if tag in ("include", "extends", "import", "from"):
            return None, f"`{{% {tag} %}}` reads another file; inline it", at
        if tag == "for" and _PAIR_LOOP.match(rest):
            return None, "`{% for k, v in mapping %}` walks items in Nunjucks but keys in Jinja", at
    out = []
    for part in re.split(r"(\{\{.*?\}\}|\{%.*?%\})", template, flags=re.DOTALL):
        if part.startswith(("{{", "{%")):
            part = _FILTER.sub(
                lambda m: (
                    m.group(0).replace(m.group(1), "tojson") if m.group(1) == "dump" else m.group(0)
                ),
                part,
            )
        out.append(part)
    text = "".join(out)
    for found in _EXPR.finditer(template):  # the source's offsets: `dump` is allowed anyway
        code = re.sub(r"(['\"]).*?\1", "''", found.group())  # not inside string literals
        for name in _FILTER.findall(code):
            if name not in _ENV.filters and name != "dump":
                return None, f"the filter `{name}` has no Jinja equivalent", found.start()
        for name in _TEST.findall(code):
            if name not in _ENV.tests:
                return None, f"the test `is {name}` has no Jinja equivalent", found.start()
    try:
        _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        lines = template.splitlines(keepends=True)[: max((exc.lineno or 1) - 1, 0)]
        return None, f"not a template Jinja can read: {exc.message}", len("".join(lines))
    return text, "", 0


def uses_dump(template: str) -> bool:
    return _DUMP.search(template) is not None


def in_file(name: str, whole: str, part: str, at: int) -> Location:
    """Where ``part[at:]`` (a prompt read from the file ``name``) is in the file's text."""
    snippet = part[at:].split("\n", 1)[0][:60]
    start = max(whole.find(part), 0)
    found = whole.find(snippet, start) if snippet else -1
    if found < 0:  # escaped (a JSON string): the file, at least
        found = whole.find(snippet) if snippet else -1
    if found < 0:
        return Location(name, 1, 1)
    line_start = whole.rfind("\n", 0, found) + 1
    return Location(name, whole.count("\n", 0, found) + 1, found - line_start + 1)
