"""``harness finetune``: prepare, validate, train (local LoRA or hosted), export, status,
cancel."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness._cli.common import home_option, trust_options
from harness._progress import StepBar

if TYPE_CHECKING:
    from harness.experiment.trust import Trust
    from harness.finetune.lora import TrainedAdapter

__all__ = ["finetune"]


@click.group()
def finetune() -> None:
    """Turn the few-shot pool into a fine-tuned model the table can use."""


@finetune.command()
@click.argument("experiment", type=click.Path())
@click.option("--prompt", "prompt_id", help="Prompt whose system/user format to train on.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    required=True,
    help="Training JSONL to write (validation split goes beside it).",
)
@click.option(
    "--validation-fraction", type=click.FloatRange(0, 0.5), default=0.1, show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@trust_options
def prepare(
    experiment: str,
    prompt_id: str | None,
    output: str,
    validation_fraction: float,
    seed: int,
    trust: Trust,
) -> None:
    """Render the pool as chat-format JSONL in the prompt's own format, minus leaked items."""
    from harness.experiment import load_experiment
    from harness.finetune.prepare import prepare_training_data, write_jsonl

    exp = load_experiment(experiment, trust=trust)
    data = prepare_training_data(exp, prompt_id, validation_fraction=validation_fraction, seed=seed)
    out = Path(output)
    write_jsonl(out, data.train)
    click.echo(f"{out}: {len(data.train)} training examples (prompt {data.prompt})")
    if data.validation:
        val = out.with_name(out.stem + ".val.jsonl")
        write_jsonl(val, data.validation)
        click.echo(f"{val}: {len(data.validation)} validation examples")
    if data.removed:
        click.echo(
            f"removed {len(data.removed)} pool item(s) that match test cases "
            f"(leakage): {', '.join(data.removed)}",
            err=True,
        )


@finetune.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--model",
    default="openai:gpt-4o-mini-2024-07-18",
    show_default=True,
    help="Model whose tokenizer, limit and price apply.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def validate_data(file: str, model: str, as_json: bool) -> None:
    """Check fine-tuning data the way OpenAI's data preparation guide does (and more)."""
    from harness.errors import HarnessError
    from harness.finetune.validate import validate_file

    try:
        report = validate_file(Path(file), model=model)
    except OSError as exc:
        raise HarnessError(f"{file}: {exc.strerror or exc}") from None
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else report.to_text())
    raise SystemExit(0 if report.ok else 2)


@finetune.command()
@click.argument("data", type=click.Path(dir_okay=False, exists=True))
@click.option("--name", required=True, help="Adapter name: use it as local:BASE+NAME.")
@click.option("--base", default="local:smollm2", show_default=True)
@click.option(
    "--mode",
    type=click.Choice(["chat", "text"]),
    default="chat",
    show_default=True,
    help="chat: assistant-token loss on chat JSONL; text: domain text, all tokens.",
)
@click.option("--epochs", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option("--lr", "learning_rate", type=float, default=1e-3, show_default=True)
@click.option("--rank", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 512), default=4, show_default=True)
@click.option("--sizes", help="Train on nested subsets, e.g. 10,25,50 (data-scaling curve).")
@click.option("--alpha", type=click.IntRange(1), help="LoRA alpha [default: twice the rank]")
@click.option(
    "--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True
)
@click.option("--target-modules", help="Modules to adapt, e.g. q_proj,v_proj [default: attention]")
@click.option("--gradient-accumulation", type=click.IntRange(1, 1024), default=1, show_default=True)
@click.option("--max-length", type=click.IntRange(8), default=512, show_default=True)
@click.option("--packing", is_flag=True, help="Pack several examples into each sequence.")
@click.option("--gradient-checkpointing", is_flag=True, help="Trade compute for memory.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
    default="auto",
    show_default=True,
    help="auto: bf16 on a GPU that has it, else fp32.",
)
@click.option("--qlora", is_flag=True, help="4-bit base (needs a CUDA GPU and bitsandbytes).")
@click.option(
    "--eval-fraction",
    type=click.FloatRange(0, 0.5),
    default=0.0,
    show_default=True,
    help="Hold out this share of the examples for eval loss per epoch.",
)
@click.option("--early-stopping", type=click.IntRange(1), help="Patience in epochs on eval loss.")
@click.option(
    "--accelerate-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Run under `accelerate launch` with this config (GPUs, nodes, DeepSpeed, FSDP).",
)
@click.option(
    "--trainer", type=click.Choice(["local", "openai"]), default="local", show_default=True
)
@click.option(
    "--validation-file",
    type=click.Path(dir_okay=False, exists=True),
    help="Chat JSONL for eval loss (local) or the hosted job's validation file.",
)
@click.option("--no-wait", is_flag=True, help="Hosted: start the job and return.")
@home_option("Harness home (adapters, job records).")
def train(
    data: str,
    name: str,
    base: str,
    mode: str,
    epochs: int,
    learning_rate: float,
    rank: int,
    batch_size: int,
    sizes: str | None,
    alpha: int | None,
    dropout: float,
    target_modules: str | None,
    gradient_accumulation: int,
    max_length: int,
    packing: bool,
    gradient_checkpointing: bool,
    precision: str,
    qlora: bool,
    eval_fraction: float,
    early_stopping: int | None,
    accelerate_config: Path | None,
    trainer: str,
    validation_file: str | None,
    no_wait: bool,
    home: Path | None,
) -> None:
    """Fine-tune: LoRA on a local model (TRL's SFTTrainer), or a hosted job through the
    fine-tuning API."""
    if trainer == "openai":
        _train_hosted(Path(data), name, base, epochs, validation_file, not no_wait, home)
        return
    from harness.errors import HarnessError
    from harness.finetune.launch import launch_training, launched_worker
    from harness.finetune.lora import LoraConfig, nested_subsets, train_lora
    from harness.models.base import ModelRef

    if accelerate_config is not None:
        raise SystemExit(launch_training(accelerate_config, _command_line()))
    try:
        ref: ModelRef | None = ModelRef.parse(base)
    except ValueError:
        ref = None
    if ref is None or ref.provider != "local":
        raise HarnessError(
            f"--base {base!r}: local training needs a local:MODEL base "
            "(use --trainer openai for hosted models)"
        )
    config = LoraConfig(
        name=name,
        base=ref.name,
        mode=mode,  # type: ignore[arg-type]
        epochs=epochs,
        learning_rate=learning_rate,
        rank=rank,
        alpha=alpha or 2 * rank,
        dropout=dropout,
        batch_size=batch_size,
        gradient_accumulation=gradient_accumulation,
        max_length=max_length,
        packing=packing,
        gradient_checkpointing=gradient_checkpointing,
        precision=precision,  # type: ignore[arg-type]
        target_modules=tuple(t.strip() for t in target_modules.split(",") if t.strip())
        if target_modules
        else None,
        qlora=qlora,
        eval_fraction=eval_fraction,
        early_stopping=early_stopping,
    )
    runs = [(config, Path(data))]
    if sizes:
        runs = [
            (replace(config, name=f"{name}-n{size}"), subset)
            for size, subset in nested_subsets(Path(data), _sizes(sizes))
        ]
    worker = launched_worker()  # one of several processes, not the one that reports
    for run_config, run_data in runs:
        bar = None if worker else StepBar(run_config.name)
        try:
            adapter = train_lora(
                run_data,
                run_config,
                home=home,
                eval_data=Path(validation_file) if validation_file else None,
                on_step=bar,
                on_eval=bar.eval_note if bar is not None else None,
            )
        finally:
            if bar is not None:
                bar.close()
        if adapter.main_process:
            _report(adapter)


def _command_line() -> list[str]:
    """The ``harness`` arguments of this ``finetune train`` command, rebuilt from its
    parsed parameters (whoever called it) without ``--accelerate-config``."""
    ctx = click.get_current_context()
    args = ["finetune", "train"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name == "accelerate_config" or value is None or value is False:
            continue
        if isinstance(param, click.Argument):
            args.append(str(value))
            continue
        flag = max(param.opts, key=len)
        args += [flag] if value is True else [flag, str(value)]
    return args


def _report(adapter: TrainedAdapter) -> None:
    if adapter.resumed_from_step is not None:
        click.echo(f"resumed from the checkpoint at step {adapter.resumed_from_step}")
    tail = adapter.losses[-5:] or [float("nan")]
    first = adapter.losses[0] if adapter.losses else float("nan")
    click.echo(
        f"{adapter.model_id}: {adapter.examples} examples, {adapter.steps} steps in "
        f"{adapter.seconds:.1f} s on {adapter.device}; loss {first:.3f} "
        f"-> {sum(tail) / len(tail):.3f}; saved to {adapter.path}"
    )
    if adapter.eval_losses:
        losses = ", ".join(f"{loss:.4f}" for _, loss in adapter.eval_losses)
        click.echo(f"eval loss per epoch: {losses}")
    if adapter.perplexity_before is not None and adapter.perplexity_after is not None:
        click.echo(
            f"held-out perplexity: {adapter.perplexity_before:.2f} -> "
            f"{adapter.perplexity_after:.2f}"
        )
    if adapter.curve:
        click.echo(f"loss curve: {adapter.curve[0]}")


def _train_hosted(
    data: Path,
    name: str,
    base: str,
    epochs: int,
    validation_file: str | None,
    wait: bool,
    home: Path | None,
) -> None:
    from harness.finetune.hosted import hosted_model_id, start_job, wait_for_job

    job = start_job(
        data,
        base=base,
        suffix=name,
        epochs=epochs,
        home=home,
        validation_file=Path(validation_file) if validation_file else None,
        on_notice=lambda text: click.echo(f"warning: {text}", err=True),
    )
    click.echo(f"job {job.id}: {job.status}")
    if wait:
        job = wait_for_job(
            job.id, on_event=lambda text: click.echo(f"  {text}", err=True), home=home
        )
        click.echo(json.dumps({"job": job.id, "status": job.status, "model": hosted_model_id(job)}))


def _sizes(raw: str | None) -> Sequence[int]:
    if not raw:
        return ()
    try:
        sizes = sorted({int(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise click.BadParameter(f"--sizes must be positive integers like 10,25,50, not {raw!r}")
    return sizes


@finetune.command()
@click.argument("job_id")
def status(job_id: str) -> None:
    """Show a hosted fine-tuning job."""
    from harness.finetune.hosted import job_status

    job = job_status(job_id)
    click.echo(
        f"{job.id}: {job.status} (base {job.model})"
        + (f" -> openai:{job.fine_tuned_model}" if job.fine_tuned_model else "")
        + (f"; error: {job.error}" if job.error else "")
    )


@finetune.command()
@click.argument("job_id")
def cancel(job_id: str) -> None:
    """Cancel a hosted fine-tuning job."""
    from harness.finetune.hosted import cancel_job

    job = cancel_job(job_id)
    click.echo(f"{job.id}: {job.status}")


@finetune.command()
@click.argument("name")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["peft", "merged", "gguf"]),
    default="peft",
    show_default=True,
    help="peft: the adapter folder (vLLM --lora-modules, transformers); merged: a full model; "
    "gguf: a llama.cpp LoRA adapter (llama-server --lora).",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Folder.")
@home_option()
def export(name: str, fmt: str, output: Path, home: Path | None) -> None:
    """Write a trained LoRA adapter for serving elsewhere, and say how to serve it."""
    from typing import Literal

    from harness.finetune.export import export_adapter

    formats: dict[str, Literal["peft", "merged", "gguf"]] = {
        "peft": "peft",
        "merged": "merged",
        "gguf": "gguf",
    }
    exported = export_adapter(name, formats[fmt], output, home=home)
    click.echo(f"wrote {exported.format} export of {name} to {exported.path}")
    click.echo(f"serve it with: {exported.serve}")
    if fmt == "merged":
        click.echo(f"or evaluate it here as the model local:{exported.path}")
    if fmt == "gguf":
        click.echo(f"or with llama.cpp: llama-server -m {exported.base} --lora {exported.path}")
    if exported.note:
        click.echo(exported.note)
