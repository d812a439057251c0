"""The Jinja sandbox with resource limits: templates come from files strangers send.

Jinja's own sandbox stops attribute escapes but not a template that asks for a billion
characters (``'a'|center(10**9)``, ``'%1000000000d' % 1``, ``'x'.ljust(10**9)``) or
loops for an hour. Here every string a filter, method, operator or format produces is
bounded *before* it is allocated, loop ranges count against a per-render budget, the
rendered output is capped, and a render that runs past its deadline is stopped. Constant
folding is off, so nothing is evaluated at compile time outside these checks.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal without its enum wrappers
import operator
import re
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "MAX_ITERATIONS",
    "MAX_OUTPUT",
    "MAX_STRING",
    "RENDER_SECONDS",
    "RenderLimitError",
    "SandboxEnvironment",
    "render_deadline",
]

MAX_STRING = 1_000_000  # characters in any one value a template builds
MAX_OUTPUT = 2_000_000  # characters in one rendered template
MAX_ITERATIONS = 1_000_000  # range() items across one render
RENDER_SECONDS = 2.0

# Digits in a %-format or {}-format spec: widths and precisions allocate that many chars.
_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\d+)(?:\.(\d+))?|\{[^{}]*:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


# Outside the HarnessError family on purpose: it is raised inside Jinja's rendering and must be
# a SecurityError, which CompiledTemplate.render turns into a TemplateError at its place in
# the template; it never reaches a caller (tests/test_errors.py allows it by name).
class RenderLimitError(SecurityError):
    """A template exceeded a resource limit (size, iterations, time)."""


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def _check_size(value: Any, what: str) -> Any:
    if _length(value) > MAX_STRING:
        raise RenderLimitError(f"{what} would be longer than {MAX_STRING:,} characters")
    return value


def _check_args(args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_STRING:
            raise RenderLimitError(f"{what}: argument {value} is larger than {MAX_STRING:,}")
        if isinstance(value, float) and abs(value) > MAX_STRING:
            raise RenderLimitError(f"{what}: argument {value:g} is larger than {MAX_STRING:,}")


def _check_format(spec: Any, what: str, values: Any = ()) -> None:
    """Refuse a format whose widths would allocate more than :data:`MAX_STRING`.

    Widths written in the format are read here; widths taken from the values (``%*d``,
    ``{0:>{1}}``) are checked among the values themselves.
    """
    if not isinstance(spec, str):
        return
    if "*" in spec or re.search(r"\{[^{}]*\{", spec):
        items = values.values() if isinstance(values, dict) else values
        items = items if isinstance(items, (tuple, list)) or hasattr(items, "__iter__") else ()
        for value in items if not isinstance(items, str) else ():
            if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) > 6:
                value = int(value.strip()[:12])
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_STRING:
                raise RenderLimitError(f"{what}: width {value} is larger than {MAX_STRING:,}")
    for match in _FORMAT_WIDTH.finditer(spec):
        for digits in match.groups():
            if digits and (len(digits) > 7 or int(digits) > MAX_STRING):
                raise RenderLimitError(f"{what}: width {digits} is larger than {MAX_STRING:,}")


def _replace_size(text: str, old: Any, new: Any) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    count = len(text) + 1 if old == "" else text.count(old)
    return len(text) + count * (len(new) - len(old))


class _Iterations(threading.local):
    count = 0


_ITERATIONS = _Iterations()


def _counting_range(*args: int) -> Iterator[int]:
    items = range(*args)
    if len(items) > MAX_ITERATIONS:
        raise RenderLimitError(f"range of {len(items):,} items exceeds {MAX_ITERATIONS:,}")
    for item in items:
        _ITERATIONS.count += 1
        if _ITERATIONS.count > MAX_ITERATIONS:
            raise RenderLimitError(f"loops ran more than {MAX_ITERATIONS:,} iterations")
        yield item


# Filters whose numeric arguments size what they allocate (widths, counts).
_SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    offset = 1 if hasattr(func, "jinja_pass_arg") else 0  # context/environment first

    def guarded(*args: Any, **kwargs: Any) -> Any:
        value, rest = (args[offset], args[offset + 1 :]) if len(args) > offset else (None, ())
        if name in _SIZING_FILTERS:
            _check_args(rest, kwargs, f"filter {name}")
        if name == "format":
            _check_format(value, "filter format", (*rest, *kwargs.values()))
        replacing = name == "replace" and isinstance(value, str) and len(rest) >= 2
        if replacing and _replace_size(str(value), rest[0], rest[1]) > MAX_STRING:
            raise RenderLimitError(f"filter replace would exceed {MAX_STRING:,} characters")
        return _check_size(func(*args, **kwargs), f"filter {name}")

    if hasattr(func, "jinja_pass_arg"):
        guarded.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    guarded.__name__ = getattr(func, "__name__", name)
    return guarded


def _guarded_join(parts: Any) -> str:
    """``a ~ b``: Jinja's ``str_join`` with the result bounded before it is built."""
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    if sum(map(len, texts)) > MAX_STRING:
        raise RenderLimitError(f"concatenation would be longer than {MAX_STRING:,} characters")
    return "".join(texts)


class _CodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guarded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with every allocation and loop bounded."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _CodeGenerator
    guarded_join = staticmethod(_guarded_join)

    def __init__(self, **options: Any) -> None:
        super().__init__(optimized=False, **options)
        self.filters = {n: _guard_filter(n, f) for n, f in self.filters.items()}
        self.globals["range"] = _counting_range
        lipsum: Callable[..., str] = self.globals["lipsum"]  # type: ignore[assignment]
        self.globals["lipsum"] = lambda n=5, *a, **k: lipsum(min(int(n), 100), *a, **k)

    def concat(self, parts: Any) -> str:  # block `set` buffers
        return _guarded_join(parts)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(count, int) and _length(seq) * count > MAX_STRING:
                    raise RenderLimitError("repetition result is too large")
            return operator.mul(left, right)
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > 1000:
                raise RenderLimitError("exponent is too large")
            return operator.pow(left, right)
        if operator_name == "%":
            _check_format(
                left, "% formatting", right if isinstance(right, (tuple, dict)) else (right,)
            )
            return _check_size(operator.mod(left, right), "% formatting")
        if _length(left) + _length(right) > MAX_STRING:
            raise RenderLimitError("concatenation result is too large")
        return operator.add(left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            name = getattr(method, "__name__", "method")
            _check_args(args, kwargs, f"str.{name}")
            if name in ("format", "format_map"):
                _check_format(
                    owner,
                    f"str.{name}",
                    (
                        *args,
                        *kwargs.values(),
                        *(
                            args[0].values()
                            if name == "format_map" and args and isinstance(args[0], dict)
                            else ()
                        ),
                    ),
                )
            if (
                name == "replace"
                and len(args) >= 2
                and _replace_size(owner, *args[:2]) > MAX_STRING
            ):
                raise RenderLimitError(f"str.replace would exceed {MAX_STRING:,} characters")
            if name == "join" and args and sum(map(_length, args[0])) > MAX_STRING:
                raise RenderLimitError(f"str.join would exceed {MAX_STRING:,} characters")
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_size(result, f"{getattr(__obj, '__name__', 'call')}()")


class _Timeout(RenderLimitError):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout(f"rendering took longer than {RENDER_SECONDS:g} s")


def _own_alarm() -> bool:
    """Whether SIGALRM is ours to use: our handler, or the default one (then it becomes ours).

    Installed once rather than per render: swapping handlers costs more than a render.
    """
    handler = _signal.getsignal(signal.SIGALRM)
    if handler is _on_alarm:
        return True
    if handler == _signal.SIG_DFL:
        _signal.signal(signal.SIGALRM, _on_alarm)
        return True
    return False  # the host program uses SIGALRM itself: leave it alone


class render_deadline:  # noqa: N801 - used like a function: `with render_deadline():`
    """Bound one render's iterations and, in the main thread, its wall time (SIGALRM)."""

    __slots__ = ("armed", "seconds")

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self.seconds = seconds
        self.armed = False

    def __enter__(self) -> None:
        _ITERATIONS.count = 0
        if (
            _HAS_TIMER
            and threading.get_ident() == _MAIN_THREAD
            and _own_alarm()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0  # no alarm of someone else's
        ):
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self.armed = True

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.armed = False


_HAS_TIMER = hasattr(signal, "setitimer")
_MAIN_THREAD = threading.main_thread().ident


def output_chunks(chunks: Iterator[str]) -> str:
    """Join rendered chunks, stopping as soon as the output passes :data:`MAX_OUTPUT`."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise RenderLimitError(f"rendered text is longer than {MAX_OUTPUT:,} characters")
        parts.append(chunk)
    return "".join(parts)
