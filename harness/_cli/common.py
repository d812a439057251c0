"""Options several commands share, declared once so that they read and behave the same.

``--home`` (with ``$HARNESS_HOME``), ``--format`` and the consent flags (``--allow-python``,
``--allow-outside-files``, ``--allow-env``) mean the same thing on every command that takes
them; declaring each once keeps their names, help and environment variables from drifting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = [
    "FORMATS",
    "OptionalPath",
    "format_option",
    "home_option",
    "output_dir_option",
    "trust_options",
]

F = TypeVar("F", bound=Callable[..., Any])

# harness.report.table.FORMATS, repeated: importing the report (numpy, scipy) to build the
# parser would slow down every command, `--version` included.
FORMATS = ("table", "markdown", "csv", "json")


class OptionalPath(click.Path):
    """``click.Path(path_type=Path)`` where an empty value means "not given".

    ``--home "$UNSET_VARIABLE"`` has always meant the default home (as an empty
    ``$HARNESS_HOME`` does), and ``-o ""`` no report file, not the current folder that
    ``Path("")`` would be.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "":
            return None
        return super().convert(value, param, ctx)


def home_option(
    help_text: str = "Harness home: cache and run records (default ./.harness).",
) -> Callable[[F], F]:
    """``--home DIR`` (or ``$HARNESS_HOME``), passed on as ``home: Path | None``."""
    return click.option(
        "--home",
        type=OptionalPath(file_okay=False, path_type=Path),
        envvar="HARNESS_HOME",
        help=help_text,
    )


def format_option(command: F) -> F:
    """``--format table|markdown|csv|json``, passed on as ``fmt``."""
    option = click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
    )
    return option(command)


def trust_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--allow-python, --allow-outside-files and --allow-env, passed on as one ``trust``.

    What a shared experiment file may do without them is in harness.experiment.trust.
    """

    @functools.wraps(command)
    def with_trust(
        *args: Any,
        allow_python: bool,
        allow_outside_files: bool,
        allow_env: Sequence[str],
        **kwargs: Any,
    ) -> Any:
        from harness.experiment.trust import Trust

        trust = Trust.of(python=allow_python, outside_files=allow_outside_files, env=allow_env)
        return command(*args, trust=trust, **kwargs)

    options = [
        click.option(
            "--allow-python",
            is_flag=True,
            envvar="HARNESS_ALLOW_PYTHON",
            help="Allow `python` checks, which run code named by the experiment.",
        ),
        click.option(
            "--allow-outside-files",
            is_flag=True,
            envvar="HARNESS_ALLOW_OUTSIDE_FILES",
            help="Allow the experiment to read files outside its project folder.",
        ),
        click.option(
            "--allow-env",
            multiple=True,
            metavar="NAME",
            help="Allow the experiment's api_key_env to name this variable (repeatable).",
        ),
    ]
    for option in reversed(options):
        with_trust = option(with_trust)
    return with_trust


def output_dir_option(command: F) -> F:
    """``-o/--output DIR``, required: where an import writes its experiment."""
    return click.option(
        "-o",
        "--output",
        "out_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder to write the experiment into.",
    )(command)
