"""One family of exceptions: what the harness raises is a HarnessError with its exit code.

A caller (the CLI, the pytest plugin, a script) catches :class:`HarnessError` and shows a
message; anything else is a bug. These tests keep every exception class the package
defines inside the family, keep the old import paths and the ``ProviderError(msg, kind)``
form working, and check that the runner dispatches on the class.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pickle
import pkgutil
from collections.abc import Iterator

import pytest

import harness
from harness import errors
from harness._run.runner import Execution, RetryPolicy, Task, execute
from harness.errors import (
    CheckError,
    EmbeddingModelError,
    ExitCode,
    ExperimentError,
    FatalModelError,
    FinetuneError,
    HarnessError,
    Location,
    ModelError,
    Problem,
    ProviderError,
    RequestError,
    RetryableError,
    TemplateError,
    TemplateSyntaxProblem,
)
from harness.models.base import ModelRef, ModelRequest, ModelResponse, Provider, ProviderOptions

# Private control flow that never reaches a caller, each outside the family on purpose
# (the reason is a comment at its definition).
ALLOWED_OUTSIDE = {
    # Must be a jinja2 SecurityError; CompiledTemplate.render turns it into TemplateError.
    "harness._sandbox.RenderLimitError",
    "harness._sandbox._Timeout",
    # Unwinds the YAML builder; load_yaml_text turns it into a Problem.
    "harness.experiment._yaml._TooLarge",
}


def _exception_classes() -> Iterator[type[BaseException]]:
    """Every exception class defined at the top level of a module of the package."""
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        if info.name.endswith(".__main__"):  # runs the command when imported; defines none
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                yield cls


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_every_exception_class_belongs_to_the_family() -> None:
    found = {_name(cls): cls for cls in _exception_classes()}
    outside = {name for name, cls in found.items() if not issubclass(cls, HarnessError)}
    assert outside == ALLOWED_OUTSIDE, "define it under HarnessError, or justify it here"
    # The walk reaches private modules and the pytest plugin (not only harness.errors).
    assert {
        "harness.errors.HarnessError",
        "harness.models._local_setup.LocalModelError",
        "harness.pytest_plugin.VariantFailure",
    } <= set(found)


def test_each_exception_is_defined_once() -> None:
    """A second class with a family name would escape ``except`` clauses written for the first."""
    by_name: dict[str, list[str]] = {}
    for cls in _exception_classes():
        by_name.setdefault(cls.__qualname__, []).append(_name(cls))
    twice = {name: where for name, where in by_name.items() if len(where) > 1}
    assert not twice, "import it from harness.errors instead of defining it again"


def test_the_tree() -> None:
    from harness.models._local_setup import LocalModelError
    from harness.pytest_plugin import VariantFailure

    parents = {
        ExperimentError: HarnessError,
        TemplateError: HarnessError,
        TemplateSyntaxProblem: TemplateError,
        CheckError: HarnessError,
        ModelError: HarnessError,
        LocalModelError: ModelError,
        ProviderError: ModelError,
        RetryableError: ProviderError,
        RequestError: ProviderError,
        FatalModelError: ProviderError,
        EmbeddingModelError: HarnessError,
        FinetuneError: HarnessError,
        VariantFailure: HarnessError,
    }
    for cls, parent in parents.items():
        assert cls.__bases__ == (parent,), cls


def test_names_stay_importable_where_they_were() -> None:
    from harness.checks.builtin import CheckError as from_checks
    from harness.models import ProviderError as from_models
    from harness.models.base import ProviderError as from_base
    from harness.templating import TemplateError as from_templating
    from harness.templating import TemplateSyntaxProblem as syntax_from_templating

    assert from_checks is CheckError
    assert from_models is from_base is ProviderError
    assert from_templating is TemplateError
    assert syntax_from_templating is TemplateSyntaxProblem
    assert harness.HarnessError is HarnessError and harness.ExperimentError is ExperimentError


def test_exit_codes_by_class() -> None:
    from harness.models._local_setup import LocalModelError
    from harness.pytest_plugin import VariantFailure

    where = Location("x.yaml")
    expected = {
        HarnessError("x"): 2,
        ExperimentError([Problem(where, "bad")]): 2,
        TemplateError(where, "bad"): 2,
        TemplateSyntaxProblem(where, "bad"): 2,
        CheckError("x"): 2,
        ModelError("x"): 2,
        LocalModelError("x"): 2,
        EmbeddingModelError("x"): 2,
        FinetuneError("x"): 2,
        RetryableError("x"): 3,
        RequestError("x"): 3,
        FatalModelError("x"): 3,
        VariantFailure("x"): 1,
    }
    for exc, code in expected.items():
        assert exc.exit_code == code, type(exc)
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 70, 130]


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TemplateError(Location("t.j2", 3), "'x' is undefined"), 2),
        (FinetuneError("no training examples"), 2),
        (FatalModelError("HTTP 401: bad key"), 3),
    ],
)
def test_the_command_exits_with_the_class_code(
    exc: HarnessError,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI takes the code from the class: a message on stderr, no traceback."""
    import harness._cli.commands as commands
    from tests.conftest import run_cli

    def fail(*args: object, **kwargs: object) -> int:
        raise exc

    monkeypatch.setattr(commands, "validate_paths", fail)
    got, _, err = run_cli(["validate", "x.yaml"], capsys)
    assert got == code
    assert err == f"error: {exc}\n"


def test_provider_error_with_a_kind_builds_the_subclass() -> None:
    """The form providers (plug-ins included) used before the subclasses existed."""
    retry = ProviderError("busy", "retry", retry_after=2.0, status=429)
    assert type(retry) is RetryableError and retry.kind == "retry"
    assert (retry.retry_after, retry.status) == (2.0, 429)
    assert type(ProviderError("no", "request")) is RequestError
    assert type(ProviderError("no")) is RequestError  # neither retried nor aborting
    assert type(ProviderError("key", "fatal")) is FatalModelError
    assert FatalModelError("key").kind == "fatal"
    with pytest.raises(TypeError, match="RetryableError is a 'retry' failure, not 'fatal'"):
        RetryableError("x", "fatal")


def test_provider_errors_are_redacted_and_survive_pickling() -> None:
    key = "sk-proj-" + "a1B2c3D4" * 4
    for cls in (RetryableError, RequestError, FatalModelError):
        exc = cls(f"HTTP 401: Incorrect API key provided: {key}", status=401)
        assert key not in str(exc) and "[REDACTED]" in str(exc)
        copy = pickle.loads(pickle.dumps(exc))
        assert type(copy) is cls and str(copy) == str(exc) and copy.status == 401


class _Scripted(Provider):
    """Raises the given failures in turn, then answers "ok"."""

    def __init__(self, failures: list[BaseException]) -> None:
        super().__init__(ModelRef("fake", "scripted"), ProviderOptions())
        self.failures = failures
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return ModelResponse(text="ok")


def _run(failures: list[BaseException], attempts: int = 3) -> tuple[Execution, int]:
    provider = _Scripted(failures)
    task = Task(
        "k", "v", "c", 0, "fake:scripted", ModelRequest(({"role": "user", "content": "q"},))
    )
    execution = asyncio.run(
        execute(
            [task],
            {"fake:scripted": provider},
            concurrency={"fake:scripted": 1},
            prices={"fake:scripted": None},
            retry=RetryPolicy(max_attempts=attempts, base_delay=0.0),
        )
    )
    return execution, provider.calls


def test_runner_retries_retryable_failures_in_either_form() -> None:
    execution, calls = _run([RetryableError("503"), ProviderError("429", "retry")])
    (result,) = execution.results.values()
    assert (result.output, result.error, calls, execution.stats.retries) == ("ok", None, 3, 2)


def test_runner_gives_up_after_max_attempts() -> None:
    execution, calls = _run([RetryableError("503")] * 5, attempts=3)
    (result,) = execution.results.values()
    assert result.error == "503 (after 3 attempts)" and calls == 3
    assert execution.aborted is None


def test_runner_records_a_request_error_without_retrying() -> None:
    execution, calls = _run([RequestError("HTTP 400: bad request")])
    (result,) = execution.results.values()
    assert (result.error, calls, execution.stats.retries) == ("HTTP 400: bad request", 1, 0)


def test_runner_aborts_on_a_fatal_error() -> None:
    execution, calls = _run([ProviderError("HTTP 401: bad key", "fatal")])
    assert execution.aborted == "fake:scripted: HTTP 401: bad key" and calls == 1
    assert not execution.results


def test_errors_module_documents_every_class_it_exports() -> None:
    """The drawing in the module docstring is the map: every class in it, none missing."""
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        if isinstance(getattr(errors, name), type) and name not in {"Location", "Problem"}:
            assert name in doc, name
