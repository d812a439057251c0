"""One training run of ``train_lora``: the ``SFTTrainer`` built from a ``LoraConfig``, its
checkpoints (resume or start over), and the adapter it saves."""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._hf import quiet
from harness.finetune._config import LoraConfig, device, lora_targets, mixed_precision
from harness.finetune._trl import LossLog, PrefixCollator, prefix_sharing_trainer, progress_callback

__all__ = ["Outcome", "TrainingSession"]

_RECORD = "harness-training.json"


@dataclass
class Outcome:
    steps: int
    steps_per_epoch: int
    device: str
    log: LossLog
    stopped_early: bool = False
    resumed_from_step: int | None = None
    seconds_before: float = 0.0  # training time of the killed run(s) this one resumed


def _readable_json(path: Path) -> bool:
    try:
        json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return True


_ELAPSED = "harness-elapsed.json"


def _elapsed(checkpoint: str | None) -> float:
    """The training seconds a checkpoint records (0 for none): a resumed training's cost
    counts the time the killed run spent reaching it."""
    if checkpoint is None:
        return 0.0
    try:
        seconds = json.loads((Path(checkpoint) / _ELAPSED).read_text("utf-8"))["seconds"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
    return float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else 0.0


def _elapsed_callback(checkpoints: Path, before: float) -> Any:
    """A ``TrainerCallback`` that writes the training time so far into each checkpoint."""
    import time

    from transformers import TrainerCallback

    started = time.perf_counter()

    class Elapsed(TrainerCallback):  # type: ignore[misc,unused-ignore]
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = checkpoints / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                seconds = before + time.perf_counter() - started
                (folder / _ELAPSED).write_text(json.dumps({"seconds": seconds}), "utf-8")

    return Elapsed()


@contextmanager
def _quiet_training() -> Iterator[None]:
    """TRL and transformers speak through warnings and loggers; the harness shows its own
    progress bar and messages instead (datasets' "Tokenizing" bars included)."""
    import datasets

    bars = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        with quiet(), warnings.catch_warnings():
            for category in (FutureWarning, UserWarning, DeprecationWarning):
                warnings.simplefilter("ignore", category)
            yield
    finally:
        if bars:
            datasets.enable_progress_bars()


@dataclass
class TrainingSession:
    config: LoraConfig
    model: Any
    tokenizer: Any
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    checkpoints: Path  # a hidden folder beside the adapter, removed when training ends
    fingerprint: str  # data and settings: a checkpoint is resumed only when they match
    _trainer: Any = field(default=None, init=False)

    @property
    def shares_prefix(self) -> bool:
        """The prefix-sharing loss needs one process, no packing (rows would not start
        alike) and no gradient checkpointing (it recomputes without the cache)."""
        single = int(os.environ.get("WORLD_SIZE", "1")) == 1
        return single and not self.config.packing and not self.config.gradient_checkpointing

    @property
    def is_main_process(self) -> bool:
        return bool(self._build().is_world_process_zero())

    def _steps_per_epoch(self) -> int:
        per_step = self.config.batch_size * self.config.gradient_accumulation
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        return max(1, math.ceil(len(self.train_rows) / (per_step * processes)))

    def _build(self) -> Any:
        if self._trainer is not None:
            return self._trainer
        from datasets import Dataset
        from peft import LoraConfig as PeftLoraConfig
        from trl import SFTConfig, SFTTrainer

        config, where = self.config, device()
        bf16, fp16 = mixed_precision(config.precision, where)
        evaluate = bool(self.eval_rows)
        total = self._steps_per_epoch() * config.epochs
        with _quiet_training():
            args = SFTConfig(
                output_dir=str(self.checkpoints),
                num_train_epochs=config.epochs,
                per_device_train_batch_size=config.batch_size,
                per_device_eval_batch_size=config.batch_size,
                gradient_accumulation_steps=config.gradient_accumulation,
                learning_rate=config.learning_rate,
                lr_scheduler_type="linear",
                warmup_steps=max(1, total // 10),
                weight_decay=0.0,
                max_grad_norm=1.0,
                logging_steps=1,
                eval_strategy="epoch" if evaluate else "no",
                save_strategy="epoch",
                save_total_limit=1,
                load_best_model_at_end=bool(config.early_stopping),
                metric_for_best_model="eval_loss" if evaluate else None,
                greater_is_better=False,
                report_to=[],
                disable_tqdm=True,
                seed=config.seed,
                data_seed=config.seed,
                bf16=bf16,
                fp16=fp16,
                use_cpu=where == "cpu",
                gradient_checkpointing=config.gradient_checkpointing,
                max_length=config.max_length,
                packing=config.packing,
                completion_only_loss=True,
                dataloader_num_workers=0,
                ddp_find_unused_parameters=False,  # LoRA uses every adapter weight each step
            )
            targets = list(config.target_modules or lora_targets(self.model))
            peft_config = PeftLoraConfig(
                r=config.rank,
                lora_alpha=config.alpha,
                lora_dropout=config.dropout,
                target_modules=targets if targets != ["all-linear"] else "all-linear",
                task_type="CAUSAL_LM",
            )
            trainer_class = prefix_sharing_trainer() if self.shares_prefix else SFTTrainer
            collator = PrefixCollator(int(self.tokenizer.pad_token_id))
            self._trainer = trainer_class(
                model=self.model,
                args=args,
                train_dataset=Dataset.from_list(self.train_rows),
                eval_dataset=Dataset.from_list(self.eval_rows) if evaluate else None,
                processing_class=self.tokenizer,
                peft_config=peft_config,
                data_collator=collator if self.shares_prefix else None,
            )
        return self._trainer

    def eval_loss(self) -> float:
        """Mean loss over the eval rows with the adapter as it is now."""
        with _quiet_training():
            return float(self._build().evaluate()["eval_loss"])

    def _resume_point(self) -> str | None:
        """The last complete checkpoint when they were written for this data and these
        settings.  A checkpoint is complete once its ``trainer_state.json`` is there (the
        trainer writes it last): a training killed while saving leaves one that is not."""
        try:
            record = json.loads((self.checkpoints / _RECORD).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("fingerprint") != self.fingerprint:
            return None
        complete = []
        for folder in self.checkpoints.glob("checkpoint-*"):
            step = folder.name.rsplit("-", 1)[-1]
            if step.isdigit() and _readable_json(folder / "trainer_state.json"):
                complete.append((int(step), folder))
        return str(max(complete)[1]) if complete else None

    def train(
        self,
        on_step: Callable[[int, int, float], None] | None,
        on_eval: Callable[[float, float], None] | None,
    ) -> Outcome:
        from transformers import EarlyStoppingCallback, PrinterCallback

        trainer = self._build()
        trainer.remove_callback(PrinterCallback)  # the harness reports progress itself
        trainer.add_callback(progress_callback(LossLog(), on_step, on_eval))
        if self.config.early_stopping:
            trainer.add_callback(EarlyStoppingCallback(self.config.early_stopping))
        resume = self._resume_point()
        # every process has decided before the main one clears the folder of another run
        trainer.accelerator.wait_for_everyone()
        if trainer.is_world_process_zero():
            if resume is None:  # another run's checkpoints, or none
                shutil.rmtree(self.checkpoints, ignore_errors=True)
            for folder in self.checkpoints.glob("checkpoint-*"):  # half-written by a kill
                if not _readable_json(folder / "trainer_state.json"):
                    shutil.rmtree(folder)
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            record = {"fingerprint": self.fingerprint, "name": self.config.name}
            (self.checkpoints / _RECORD).write_text(json.dumps(record), "utf-8")
        trainer.accelerator.wait_for_everyone()
        before = _elapsed(resume)
        trainer.add_callback(_elapsed_callback(self.checkpoints, before))
        with _quiet_training():
            trainer.train(resume_from_checkpoint=resume)
        state = trainer.state
        # the whole training's losses: a resumed run's callback saw only those after resuming
        log = LossLog.from_history(list(state.log_history))
        device = str(trainer.args.device).split(":")[0]
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        return Outcome(
            steps=int(state.global_step),
            steps_per_epoch=self._steps_per_epoch(),
            device=device if processes == 1 else f"{processes}x {device}",
            log=log,
            stopped_early=state.global_step < state.max_steps,
            resumed_from_step=int(resume.rsplit("-", 1)[-1]) if resume else None,
            seconds_before=before,
        )

    def save_adapter(self, target: Path) -> None:
        """The PEFT adapter files (``adapter_config.json``, ``adapter_model.safetensors``)."""
        with _quiet_training():
            self._build().model.save_pretrained(str(target))

    def finish(self) -> None:
        """Training ended: its checkpoints are no longer needed."""
        trainer = self._build()
        trainer.accelerator.wait_for_everyone()
        if trainer.is_world_process_zero() and self.checkpoints.exists():
            shutil.rmtree(self.checkpoints)
