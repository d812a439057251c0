"""The ``harness`` command: parses arguments and calls one library function per command."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness._cli.common import (
    OptionalPath,
    format_option,
    home_option,
    output_dir_option,
    trust_options,
)
from harness.errors import ExperimentError, HarnessError

if TYPE_CHECKING:
    from harness.experiment.trust import Trust

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="prompt-harness")
def cli() -> None:
    """Prompt engineering and few-shot experiments."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@trust_options
def validate(paths: Sequence[str], trust: Trust) -> None:
    """Check experiment files (or folders of them) without calling any model."""
    from harness._cli.commands import validate_paths

    raise SystemExit(validate_paths(paths, trust))


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--variant", "variants", multiple=True, help="Variant id or glob (repeatable).")
@click.option("--case", "cases", multiple=True, help="Test case id (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@trust_options
def render(
    path: str, variants: Sequence[str], cases: Sequence[str], as_json: bool, trust: Trust
) -> None:
    """Print exactly the messages each (variant, case) would send."""
    from harness._cli.commands import render_path

    render_path(path, variants, cases, as_json, trust)


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--variant", "variants", multiple=True, help="Variant id or glob (repeatable).")
@click.option("--model", "models", multiple=True, help="Run against these models instead.")
@click.option("--concurrency", type=click.IntRange(1, 10_000), help="Requests in flight per model.")
@click.option("--repeats", type=click.IntRange(1, 1000), help="Samples per (variant, case).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option("--resume", is_flag=True, help="Continue the last unfinished run of this file.")
@click.option(
    "--keep-errors",
    is_flag=True,
    help="With --resume, keep failed requests instead of asking them again.",
)
@click.option("--dry-run", is_flag=True, help="Show requests, tokens and cost; call nothing.")
@click.option("--max-cost", type=click.FloatRange(0), help="Stop before spending more (USD).")
@click.option("--batch", is_flag=True, help="Send through the Batch API (half price, 24 h).")
@click.option("--no-wait", is_flag=True, help="With --batch: submit, record and exit.")
@click.option("--resubmit", is_flag=True, help="What expired batches left: a new batch.")
@click.option(
    "--direct-remainder", is_flag=True, help="What expired batches left: direct requests."
)
@click.option(
    "--all-held-out",
    "all_heldout",
    is_flag=True,
    help="Split experiments: run every variant on the held-out cases too, not only the "
    "dev winner, its ties and the baseline (the winner is still chosen on dev).",
)
@click.option(
    "--max-retry-after",
    type=click.FloatRange(0),
    metavar="SECONDS",
    help="Longest wait a server's Retry-After gets before a retry (default 60).",
)
@home_option()
@format_option
@click.option(
    "-o",
    "--output",
    type=OptionalPath(dir_okay=False, path_type=Path),
    help="Also write the report here (format from the extension).",
)
@trust_options
def run(
    path: str,
    variants: Sequence[str],
    models: Sequence[str],
    concurrency: int | None,
    repeats: int | None,
    no_cache: bool,
    resume: bool,
    keep_errors: bool,
    dry_run: bool,
    max_cost: float | None,
    batch: bool,
    no_wait: bool,
    resubmit: bool,
    direct_remainder: bool,
    all_heldout: bool,
    max_retry_after: float | None,
    home: Path | None,
    fmt: str,
    output: Path | None,
    trust: Trust,
) -> None:
    """Run an experiment: query every variant on every case and report."""
    from harness._cli.commands import estimate_path, run_path

    if dry_run:
        raise SystemExit(
            estimate_path(
                path,
                variants=variants,
                models=models,
                repeats=repeats,
                home=home,
                trust=trust,
                batch=batch,
            )
        )
    code = run_path(
        path,
        fmt=fmt,
        output=output,
        variants=variants,
        models=models,
        home=home,
        concurrency=concurrency,
        use_cache=not no_cache,
        resume=resume,
        keep_errors=keep_errors,
        max_cost=max_cost,
        max_retry_after=max_retry_after,
        repeats=repeats,
        trust=trust,
        all_heldout=all_heldout,
        batch=batch,
        wait=not no_wait,
        resubmit=resubmit,
        direct_remainder=direct_remainder,
    )
    raise SystemExit(code)


@cli.command("runs")
@home_option()
def runs_(home: Path | None) -> None:
    """List recorded runs."""
    from harness._cli.commands import list_runs_command

    list_runs_command(home)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--failures", is_flag=True, help="Only failed and errored results.")
@click.option("--variant", "variants", multiple=True, help="Variant id or glob (repeatable).")
@format_option
@home_option()
def show(run_id: str, failures: bool, variants: Sequence[str], fmt: str, home: Path | None) -> None:
    """Show a run's per-case outputs and why they failed (RUN: id, prefix or latest)."""
    from harness._cli.commands import show_command

    show_command(run_id, home, failures, variants, fmt)


@cli.command()
@click.argument("run_a")
@click.argument("run_b")
@home_option()
def compare(run_a: str, run_b: str, home: Path | None) -> None:
    """Pair the same (variant, case) results of two runs: regressions, fixes, statistics."""
    from harness._cli.commands import compare_command

    raise SystemExit(compare_command(run_a, run_b, home))


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (default: report.html in the run's folder; markdown prints).",
)
@click.option("--against", metavar="RUN_B", help="Compare with this earlier run.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "markdown"]),
    default="html",
    show_default=True,
    help="html: the shareable report; markdown: a pull-request summary.",
)
@home_option()
def report(
    run_ref: str, output: Path | None, against: str | None, fmt: str, home: Path | None
) -> None:
    """Write a run's self-contained HTML report, or its Markdown summary."""
    from harness._cli.commands import report_command

    report_command(run_ref, output=output, against=against, fmt=fmt, home=home)


@cli.command()
@home_option()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; anything but loopback shares your runs with the network.",
)
def view(home: Path | None, port: int, host: str) -> None:
    """Browse the runs of a harness home in a local, read-only web page (Ctrl-C stops)."""
    from harness._cli.commands import view_command

    view_command(home, host=host, port=port)


@cli.group("import")
def import_group() -> None:
    """Bring a suite written for another tool in as an experiment."""


@import_group.command("openai-evals")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@output_dir_option
@click.option("--eval", "eval_id", metavar="ID", help="The eval, when the file defines several.")
@click.option(
    "--registry-data",
    type=click.Path(file_okay=False, path_type=Path),
    help="The registry's data folder (default: data/ beside the registry's evals/ folder).",
)
def import_openai_evals(
    source: Path, out_dir: Path, eval_id: str | None, registry_data: Path | None
) -> None:
    """An OpenAI Evals eval (registry YAML or samples JSONL), graded by the same rules."""
    from harness._cli.commands import import_command

    import_command("openai-evals", source, out_dir, eval_id=eval_id, registry_data=registry_data)


@import_group.command("promptfoo")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@output_dir_option
def import_promptfoo(source: Path, out_dir: Path) -> None:
    """A promptfoo config (promptfooconfig.yaml), graded by promptfoo's rules."""
    from harness._cli.commands import import_command

    import_command("promptfoo", source, out_dir)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of experiment files (for editors' YAML language servers)."""
    from harness._cli.commands import print_schema

    print_schema()


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--concurrency", type=click.IntRange(1, 10_000), help="Requests in flight per model.")
@home_option()
@trust_options
def decide(path: str, concurrency: int | None, home: Path | None, trust: Trust) -> None:
    """Prompting or fine-tuning? Train what the experiment declares, run, and compare."""
    from harness._cli.commands import decide_command

    raise SystemExit(decide_command(path, concurrency, home, trust))


from harness._cli.batch import batch  # noqa: E402
from harness._cli.finetune import finetune  # noqa: E402
from harness._cli.optimize import optimize  # noqa: E402

cli.add_command(batch)
cli.add_command(finetune)
cli.add_command(optimize)


def _safe(text: str) -> str:
    """A message for the terminal: no keys, no control characters."""
    from harness._redact import redact
    from harness.errors import printable

    return printable(redact(text))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors become messages and exit code 2."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
        sys.exit(0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ExperimentError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(exc.exit_code)
    except HarnessError as exc:
        click.echo(f"error: {_safe(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug of ours: say so plainly; the traceback only on request
        if os.environ.get("HARNESS_DEBUG"):
            raise
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):  # a value given on the command line
            problems = "; ".join(f"{e['msg']} ({e['input']!r})" for e in exc.errors())
            click.echo(f"error: {problems}", err=True)
            sys.exit(2)
        click.echo(
            f"internal error: {type(exc).__name__}: {_safe(str(exc))}\n"
            "This is a bug in the harness; set HARNESS_DEBUG=1 to see the traceback and "
            "please report it. A run's finished results are kept (continue with --resume).",
            err=True,
        )
        sys.exit(70)
