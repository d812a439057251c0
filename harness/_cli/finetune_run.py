"""The body of ``harness finetune train``: local LoRA (optionally nested sizes) or hosted."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import click

from harness.errors import HarnessError

__all__ = ["train_command"]


def train_command(
    data: Path,
    *,
    name: str,
    base: str,
    mode: str,
    epochs: int,
    learning_rate: float,
    rank: int,
    batch_size: int,
    sizes: Sequence[int],
    qlora: bool,
    trainer: str,
    validation_file: Path | None,
    wait: bool,
    home: Path | None,
) -> None:
    if trainer == "openai":
        _hosted(
            data,
            name=name,
            base=base,
            epochs=epochs,
            validation_file=validation_file,
            wait=wait,
            home=home,
        )
        return
    provider, _, base_model = base.partition(":")
    if provider != "local" or not base_model:
        raise HarnessError(
            f"--base {base!r}: local training needs a local:MODEL base "
            "(use --trainer openai for hosted models)"
        )
    from harness.finetune.lora import LoraConfig

    config = LoraConfig(
        name=name,
        base=base_model,
        mode=mode,  # type: ignore[arg-type]
        epochs=epochs,
        learning_rate=learning_rate,
        rank=rank,
        alpha=2 * rank,
        batch_size=batch_size,
        qlora=qlora,
    )
    if not sizes:
        _train_one(data, config, home)
        return
    lines = [line for line in data.read_text("utf-8").splitlines() if line.strip()]
    random.Random(0).shuffle(lines)
    for size in sizes:
        if size > len(lines):
            click.echo(f"skipping size {size}: only {len(lines)} examples", err=True)
            continue
        subset = data.with_name(f"{data.stem}.n{size}{data.suffix}")
        subset.write_text("\n".join(lines[:size]) + "\n", "utf-8")  # nested: prefixes
        _train_one(subset, LoraConfig(**{**config.__dict__, "name": f"{name}-n{size}"}), home)


def _train_one(data: Path, config: object, home: Path | None) -> None:
    from harness._run.progress import StepBar
    from harness.finetune.lora import LoraConfig, train_lora

    assert isinstance(config, LoraConfig)
    bar = StepBar(config.name)
    try:
        adapter = train_lora(data, config, home=home, on_step=bar)
    finally:
        bar.close()
    tail = sum(adapter.losses[-5:]) / len(adapter.losses[-5:])
    click.echo(
        f"{adapter.model_id}: {adapter.examples} examples, {adapter.steps} steps in "
        f"{adapter.seconds:.1f} s on {adapter.device}; loss {adapter.losses[0]:.3f} -> "
        f"{tail:.3f}; saved to {adapter.path}"
    )
    if adapter.perplexity_before is not None:
        click.echo(
            f"held-out perplexity: {adapter.perplexity_before:.2f} -> "
            f"{adapter.perplexity_after:.2f}"
        )


def _hosted(
    data: Path,
    *,
    name: str,
    base: str,
    epochs: int,
    validation_file: Path | None,
    wait: bool,
    home: Path | None,
) -> None:
    from harness.finetune.hosted import hosted_model_id, start_job, wait_for_job

    job = start_job(
        data, base=base, suffix=name, validation_file=validation_file, epochs=epochs, home=home
    )
    click.echo(f"job {job.id}: {job.status}")
    if not wait:
        return
    job = wait_for_job(job.id, on_event=lambda text: click.echo(f"  {text}", err=True))
    click.echo(json.dumps({"job": job.id, "status": job.status, "model": hosted_model_id(job)}))
