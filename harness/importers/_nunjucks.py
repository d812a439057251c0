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

__all__ = ["translate"]

_ENV = SandboxedEnvironment()
_FILTER = re.compile(r"\|\s*([A-Za-z_]\w*)")
_TEST = re.compile(r"\bis\s+(?:not\s+)?([A-Za-z_]\w*)")
_TAG = re.compile(r"\{%-?\s*(\w+)(.*?)-?%\}", re.DOTALL)
_EXPR = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_PAIR_LOOP = re.compile(r"^\s*\w+\s*,\s*\w+\s+in\b")


def _code(template: str) -> list[str]:
    """The ``{{ }}`` and ``{% %}`` parts, where filters and tests live."""
    return _EXPR.findall(template)


def translate(template: str) -> tuple[str | None, str]:
    """(the Jinja text, "") or (None, why it cannot be translated)."""
    for tag, rest in _TAG.findall(template):
        if tag in ("include", "extends", "import", "from"):
            return None, f"`{{% {tag} %}}` reads another file; inline it"
        if tag == "for" and _PAIR_LOOP.match(rest):
            return None, "`{% for k, v in mapping %}` walks items in Nunjucks but keys in Jinja"
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
    for code in _code(text):
        code = re.sub(r"(['\"]).*?\1", "''", code)  # not inside string literals
        for name in _FILTER.findall(code):
            if name not in _ENV.filters:
                return None, f"the filter `{name}` has no Jinja equivalent"
        for name in _TEST.findall(code):
            if name not in _ENV.tests:
                return None, f"the test `is {name}` has no Jinja equivalent"
    try:
        _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return None, f"not a template Jinja can read: {exc.message}"
    return text, ""
