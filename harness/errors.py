"""The harness's exceptions: one family, each class carrying the exit code it ends in.

Every failure the harness expects (bad input, a missing model, a refused request) is a
:class:`HarnessError`, so a caller catches one type and shows a message, never a
traceback, and the exit code comes from the class (``exit_code``) rather than from each
``except`` clause: the mapping below is the only one there is.

.. code-block:: text

    HarnessError                    2  invalid input or setup: a message, no traceback
    ├── ExperimentError             2  an experiment file is invalid (FILE:LINE:COL lines)
    ├── TemplateError               2  a template failed to render, at its place in the file
    │   └── TemplateSyntaxProblem   2    ... or does not compile
    ├── CheckError                  2  a check cannot be evaluated (in a run: that result's error)
    ├── ModelError                  2  a model cannot be set up: no API key, not installed
    │   ├── LocalModelError         2    (harness.models._local_setup) a local model
    │   └── ProviderError           3  a model request failed; the class says what to do
    │       ├── RetryableError      3    transient: retried with backoff
    │       ├── RequestError        3    this request cannot succeed: recorded as its error
    │       └── FatalModelError     3    no request can succeed: the run stops (aborted)
    ├── EmbeddingModelError         2  the embedding model for ``similar`` is unusable
    ├── FinetuneError               2  preparing data, training or a hosted job failed
    └── VariantFailure              1  (harness.pytest_plugin) a variant failed as a test

Exit codes of the ``harness`` command (:class:`ExitCode`): 0 ok; 1 a variant missed its
``min_pass_rate``; 2 invalid input; 3 aborted (a fatal model error, the budget); 70 an
internal error (a bug: any exception outside this family); 130 interrupted. Inside a run
the runner dispatches on the :class:`ProviderError` subclass: retryable and request
failures become errors of single results and a fatal one aborts the run (exit 3), so a
``ProviderError`` reaches the command line only from outside a run, where it also aborts.

The only exceptions the package defines outside this family are private control flow
that never reaches a caller; ``tests/test_errors.py`` lists them and checks the rest.

Problems with a location (:class:`Location`, :class:`Problem`) live here too: every
mistake in an experiment file is reported as ``FILE:LINE:COL: error: MESSAGE`` so editors
and CI logs can jump straight to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Literal

from harness._redact import redact

__all__ = [
    "CheckError",
    "EmbeddingModelError",
    "ExitCode",
    "ExperimentError",
    "FatalModelError",
    "FinetuneError",
    "HarnessError",
    "Location",
    "ModelError",
    "Problem",
    "ProviderError",
    "RequestError",
    "RetryableError",
    "TemplateError",
    "TemplateSyntaxProblem",
    "printable",
]

# Control characters from a file (ESC, BEL, ...) must not reach the user's terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c not in (0x09, 0x0A)}


def printable(text: str) -> str:
    """``text`` with terminal control characters shown as ``\\xNN`` escapes."""
    return text.translate(_CONTROLS)


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based position in a file."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{printable(self.file)}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, where it is, and how bad it is."""

    location: Location
    message: str
    severity: Literal["error", "warning", "note"] = "error"

    def __str__(self) -> str:
        return f"{self.location}: {self.severity}: {printable(self.message)}"


class ExitCode(IntEnum):
    """The ``harness`` command's exit statuses (scripts and CI branch on them)."""

    OK = 0
    THRESHOLD_MISSED = 1  # a variant's pass rate is under its min_pass_rate
    INVALID = 2  # invalid input or setup
    ABORTED = 3  # the run stopped early: a fatal model error, the budget
    INTERNAL = 70  # a bug (EX_SOFTWARE); the traceback with HARNESS_DEBUG=1
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class HarnessError(Exception):
    """A failure the harness expects: shown as a message, never as a traceback.

    ``exit_code`` is the ``harness`` command's exit status for it; subclasses that mean
    something other than invalid input override it.
    """

    exit_code: ClassVar[int] = ExitCode.INVALID


class ExperimentError(HarnessError):
    """An experiment file (or one of its data/template files) is invalid."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "invalid experiment")


class TemplateError(HarnessError):
    """A template failed to render; carries where in the source it failed.

    Loading and validation turn it into a :class:`Problem` at ``location``; one that
    escapes (a template rendered outside validation) is still a message, not a bug.
    """

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.message = message


class TemplateSyntaxProblem(TemplateError):
    """A template does not compile."""


class CheckError(HarnessError):
    """A check that could not be evaluated: an error for the result, never a pass or fail."""


class ModelError(HarnessError):
    """A model cannot be used: no API key, a local model not installed, a bad option.

    Raised while setting a model up, before any request; the subclass
    :class:`ProviderError` is a request that failed.
    """


ProviderKind = Literal["retry", "request", "fatal"]


class ProviderError(ModelError):
    """A failed model request; the subclass tells the runner what to do about it.

    - :class:`RetryableError`: transient (429, 5xx, timeout, dropped connection); retried
      with backoff, honouring ``retry_after`` seconds when the server sent one.
    - :class:`RequestError`: this request can never succeed (an invalid request); recorded
      as its result's error, and the run goes on.
    - :class:`FatalModelError`: no request can succeed (bad key, unknown model, no quota);
      the run stops.

    ``ProviderError(message, kind)`` with ``kind`` ``"retry"``, ``"request"`` or
    ``"fatal"`` (the form providers used before the subclasses existed, plug-ins
    included) builds the matching subclass, and ``kind`` stays readable on every
    instance; without a kind it is a :class:`RequestError`, the failure that neither
    retries nor stops a run.

    The message is redacted (:func:`harness._redact.redact`): servers quote keys and
    ``Authorization`` headers back, and this message is stored in results and run files.
    Outside a run, where nothing records or retries it, it ends a command with exit 3.
    """

    exit_code: ClassVar[int] = ExitCode.ABORTED
    kind: ClassVar[ProviderKind] = "request"

    def __new__(
        cls,
        message: str,
        kind: ProviderKind | None = None,
        *,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> ProviderError:
        if cls is ProviderError:
            cls = _BY_KIND[kind or "request"]
        elif kind is not None and kind != cls.kind:
            raise TypeError(f"{cls.__name__} is a {cls.kind!r} failure, not {kind!r}")
        return super().__new__(cls, message)

    def __init__(
        self,
        message: str,
        kind: ProviderKind | None = None,
        *,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.retry_after = retry_after
        self.status = status


class RetryableError(ProviderError):
    """A transient failure (429, 5xx, timeout, dropped connection): worth asking again."""

    kind: ClassVar[ProviderKind] = "retry"


class RequestError(ProviderError):
    """This request can never succeed (an invalid request, a refusal): its result's error."""

    kind: ClassVar[ProviderKind] = "request"


class FatalModelError(ProviderError):
    """No request to this model can succeed (bad key, unknown model, no quota): aborts."""

    kind: ClassVar[ProviderKind] = "fatal"


_BY_KIND: dict[ProviderKind, type[ProviderError]] = {
    "retry": RetryableError,
    "request": RequestError,
    "fatal": FatalModelError,
}


class EmbeddingModelError(HarnessError):
    """The sentence-embedding model for ``similar: {method: embedding}`` is missing or broken.

    A setup problem with an install hint, so a message rather than a traceback.
    """


class FinetuneError(HarnessError):
    """Preparing training data, training an adapter or a hosted fine-tuning job failed."""
