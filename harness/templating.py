"""Sandboxed Jinja2 templates that report errors at their place in the YAML or template file.

Templates come from files people share, so they run in Jinja's immutable sandbox with
``StrictUndefined``: ``{{ ''.__class__.__mro__ }}`` is refused, a missing variable is an
error rather than an empty string, and huge repetitions are refused before they allocate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from harness._sandbox import SandboxEnvironment, output_chunks, render_deadline
from harness.errors import Location, TemplateError, TemplateSyntaxProblem

# TemplateError and TemplateSyntaxProblem are defined with the rest of the family in
# harness.errors; re-exported here, where callers have always imported them from.
__all__ = ["CompiledTemplate", "TemplateError", "TemplateSyntaxProblem", "compile_template"]


_SOURCES: dict[str, str] = {}


def _load_source(name: str) -> str:
    return _SOURCES[name]


_ENV = SandboxEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    loader=jinja2.FunctionLoader(_load_source),
    cache_size=0,
)


@dataclass(frozen=True)
class _Origin:
    """Maps a template's own line numbers to a line in the file that holds it."""

    file: str
    first_line: int
    first_col: int

    def location(self, template_line: int | None) -> Location:
        if template_line is None or template_line <= 1:
            return Location(self.file, self.first_line, self.first_col)
        return Location(self.file, self.first_line + template_line - 1, 1)


class CompiledTemplate:
    """A compiled template (or one ``{% block %}`` of a template file)."""

    def __init__(self, template: jinja2.Template, origin: _Origin, block: str | None) -> None:
        self._template = template
        self._origin = origin
        self._block = block
        self.source_location = origin.location(None)

    def render(self, variables: Mapping[str, Any]) -> str:
        """Render with ``variables``; leading and trailing whitespace is stripped."""
        try:
            with render_deadline():
                text = self._render(variables)
        except jinja2.exceptions.SecurityError as exc:
            message = f"unsafe template operation refused: {exc}"
            raise TemplateError(self._where(exc), message) from None
        except jinja2.exceptions.UndefinedError as exc:
            raise TemplateError(self._where(exc), _undefined_message(exc, variables)) from None
        except RecursionError as exc:  # the depth it fails at varies; the message must not
            raise TemplateError(self._where(exc), "template error: recursion is too deep") from None
        except Exception as exc:  # a template is user code: any failure is a user error
            raise TemplateError(
                self._where(exc), f"template error: {type(exc).__name__}: {exc}"
            ) from None
        return text.strip()

    def _render(self, variables: Mapping[str, Any]) -> str:
        ctx = self._template.new_context(dict(variables))
        body = self._template.root_render_func if self._block is None else None
        try:
            if body is None:
                return output_chunks(self._template.blocks[str(self._block)](ctx))
            return output_chunks(body(ctx))
        except Exception:
            # Rewrites the traceback to template line numbers, as Template.render does.
            self._template.environment.handle_exception()
            raise  # pragma: no cover - handle_exception always raises

    def _where(self, exc: BaseException) -> Location:
        line = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._template.filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        return self._origin.location(line)


def _undefined_message(exc: jinja2.exceptions.UndefinedError, variables: Mapping[str, Any]) -> str:
    message = str(exc)
    if "is undefined" in message:
        names = ", ".join(sorted(k for k in variables if not k.startswith("_"))) or "none"
        return f"undefined variable: {message} (available: {names})"
    return message


_counter = iter(range(1, 1 << 62))


def compile_template(
    source: str,
    *,
    file: str,
    line: int = 1,
    col: int = 1,
    blocks: tuple[str, ...] = (),
) -> dict[str | None, CompiledTemplate]:
    """Compile ``source``; return the whole template (key None) and any named ``blocks``.

    ``file``/``line``/``col`` say where the source starts, so errors point into the YAML
    line or template file people edit. Raises :class:`TemplateSyntaxProblem`.
    """
    origin = _Origin(file, line, col)
    name = f"{file}#{next(_counter)}"
    _SOURCES[name] = source
    try:
        template = _ENV.get_template(name)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(
            origin.location(exc.lineno), f"template syntax error: {exc.message}"
        ) from None
    except RecursionError:
        raise TemplateSyntaxProblem(
            origin.location(None), "template cannot be compiled: it is nested too deeply"
        ) from None
    except Exception as exc:  # e.g. Python's limit on statically nested blocks
        raise TemplateSyntaxProblem(
            origin.location(None), f"template cannot be compiled: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        del _SOURCES[name]
    out: dict[str | None, CompiledTemplate] = {None: CompiledTemplate(template, origin, None)}
    for block in blocks:
        if block in template.blocks:
            out[block] = CompiledTemplate(template, origin, block)
    return out


def block_names(compiled: Mapping[str | None, CompiledTemplate]) -> list[str]:
    """Names of the blocks a compiled template file defines."""
    template = compiled[None]._template
    return sorted(template.blocks)
