"""Fine-tuned models declared in an experiment (``finetune:``): trained when missing, then
evaluated zero-shot with their training prompt beside the prompt variants."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.adapter_records import adapter_record
from harness.experiment import Experiment, ModelSpec, Variant
from harness.experiment.schema import FinetuneSpec
from harness.home import (
    harness_home,
    hosted_jobs_path,
    training_data_path,
)
from harness.models.base import ModelRef

__all__ = ["FinetunedModel", "ensure_finetuned", "finetuned_models"]

Log = Callable[[str], None]


class StepReporter(Protocol):
    """Shows training progress (the run's progress bar); ``close`` when training ends."""

    def __call__(self, step: int, total: int, loss: float) -> None: ...
    def close(self) -> None: ...


#: Makes the reporter for one adapter, given its name (showing it is the caller's job).
ProgressFactory = Callable[[str], StepReporter]


@dataclass(frozen=True)
class FinetunedModel:
    spec: FinetuneSpec
    name: str  # adapter name (with -nSIZE for data-scaling runs)
    size: int | None
    model: ModelSpec
    variant: Variant


def _prompt(exp: Experiment, spec: FinetuneSpec) -> str:
    return spec.prompt or exp.prompts[0].id


def _hosted_record_model(spec: FinetuneSpec, name: str, home: Path) -> str:
    path = hosted_jobs_path(home)
    if path.exists():
        jobs = json.loads(path.read_text("utf-8")).get("jobs", {})
        for entry in jobs.values():
            if entry.get("suffix") == name and entry.get("fine_tuned_model"):
                return f"openai:{entry['fine_tuned_model']}"
    return f"openai:ft:{ModelRef.parse(spec.base).name}:pending:{name}"


def finetuned_models(exp: Experiment, home: Path | None = None) -> list[FinetunedModel]:
    """The fine-tuned models an experiment declares, with the variants that evaluate them."""
    root = harness_home(home)
    out = []
    for spec in exp.spec.finetune:
        prompt = _prompt(exp, spec)
        for size in [None, *spec.sizes]:
            name = spec.name if size is None else f"{spec.name}-n{size}"
            if spec.trainer == "local":
                model_id = f"{spec.base}+{name}"
            else:
                model_id = _hosted_record_model(spec, name, root)
            model = ModelSpec.model_validate(model_id)
            variant = Variant(f"{prompt}/k0/{model_id}", prompt, 0, None, None, model_id)
            out.append(FinetunedModel(spec, name, size, model, variant))
    return out


def ensure_finetuned(
    exp: Experiment,
    home: Path | None = None,
    log: Log = print,
    progress: ProgressFactory | None = None,
) -> None:
    """Train every declared model whose adapter is missing or was trained on other data."""
    from harness.finetune.prepare import prepare_training_data, write_jsonl

    root = harness_home(home)
    for spec in exp.spec.finetune:
        data = prepare_training_data(exp, _prompt(exp, spec), validation_fraction=0.0)
        for size in [None, *spec.sizes]:
            name = spec.name if size is None else f"{spec.name}-n{size}"
            examples = data.train if size is None else data.train[:size]
            path = training_data_path(root, exp.name, name)
            write_jsonl(path, examples)
            if spec.trainer == "local":
                _ensure_local(spec, name, path, root, log, progress)
            else:
                _ensure_hosted(spec, name, path, root, log)


def _ensure_local(
    spec: FinetuneSpec,
    name: str,
    data: Path,
    home: Path,
    log: Log,
    progress: ProgressFactory | None,
) -> None:
    from harness.finetune.lora import LoraConfig, data_hash, train_lora

    config = LoraConfig(
        name=name,
        base=ModelRef.parse(spec.base).name.split("+")[0],
        epochs=spec.epochs,
        learning_rate=spec.learning_rate,
        rank=spec.rank,
        alpha=spec.alpha or 2 * spec.rank,
        dropout=spec.dropout,
        batch_size=spec.batch_size,
        gradient_accumulation=spec.gradient_accumulation,
        max_length=spec.max_length,
        packing=spec.packing,
        gradient_checkpointing=spec.gradient_checkpointing,
        precision=spec.precision,
        target_modules=tuple(spec.target_modules) if spec.target_modules else None,
        qlora=spec.qlora,
        eval_fraction=spec.eval_fraction,
        early_stopping=spec.early_stopping,
    )
    record = adapter_record(home, name)
    wanted = data_hash([data.read_text("utf-8")], config)
    if record is not None and record.get("data_hash") == wanted:
        return
    log(
        f"fine-tuning {config.base}+{name} on {data.name} (LoRA r={config.rank}, "
        f"{config.epochs} epochs)..."
    )
    bar = progress(name) if progress is not None else None
    try:
        adapter = train_lora(
            data,
            config,
            home=home,
            on_step=bar,
            on_eval=lambda epoch, loss: log(f"  epoch {epoch:g}: eval loss {loss:.4f}"),
        )
    finally:
        if bar is not None:
            bar.close()
    log(
        f"  {adapter.steps} steps in {adapter.seconds:.0f} s; loss {adapter.losses[0]:.3f} -> "
        f"{adapter.losses[-1]:.3f}"
    )


def _ensure_hosted(spec: FinetuneSpec, name: str, data: Path, home: Path, log: Log) -> None:
    from harness.finetune.hosted import start_job, wait_for_job

    job = start_job(
        data,
        base=spec.base,
        suffix=name,
        epochs=spec.epochs,
        home=home,
        on_notice=lambda text: log(f"warning: {text}"),
    )
    if job.fine_tuned_model is None:
        log(f"waiting for hosted fine-tuning job {job.id} ({name})...")
        wait_for_job(job.id, on_event=lambda text: log(f"  {text}"), home=home)
