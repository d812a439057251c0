"""The pieces that put TRL's ``SFTTrainer`` to work for ``train_lora``.

``SFTTrainer`` (on Hugging Face ``accelerate``) owns the loop: tokenising prompt-completion
data so the loss is on the answer only, gradient accumulation, mixed precision, gradient
checkpointing, evaluation, checkpoints, and one process per GPU under ``accelerate
launch``.  What it does not do is notice that chat examples written from one prompt share
their first tokens: on one process without gradient checkpointing or packing,
:class:`PrefixSharingTrainer` computes each batch's shared prefix once and continues
every row from its key/value cache (:mod:`harness.finetune._step`), which gives the same
loss and gradients for a fraction of the work.  Everywhere else TRL's own loss runs.

torch, transformers and TRL are imported by the functions that need them: this module is
imported only when training starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.finetune._step import TrainingBatch, batch_loss, collate

__all__ = ["LossLog", "PrefixCollator", "prefix_sharing_trainer", "progress_callback"]


@dataclass
class LossLog:
    """Training loss per step and evaluation loss per epoch, as the trainer logs them."""

    steps: list[tuple[int, float]] = field(default_factory=list)
    evals: list[tuple[float, float]] = field(default_factory=list)  # (epoch, eval loss)

    @property
    def losses(self) -> list[float]:
        return [loss for _, loss in self.steps]

    @classmethod
    def from_history(cls, history: list[dict[str, Any]]) -> LossLog:
        """The losses of a trainer's ``state.log_history``: of the whole training, the steps
        before a resumed checkpoint included (the callback sees only those after it)."""
        log = cls()
        for entry in history:
            if "loss" in entry and "step" in entry:
                log.steps.append((int(entry["step"]), float(entry["loss"])))
            if "eval_loss" in entry:
                log.evals.append((float(entry.get("epoch") or 0.0), float(entry["eval_loss"])))
        return log


@dataclass(frozen=True)
class PrefixCollator:
    """Collates tokenised examples (``input_ids`` and ``labels``) into prefix-sharing
    batches for :class:`PrefixSharingTrainer`."""

    pad_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collate([(list(e["input_ids"]), list(e["labels"])) for e in examples], self.pad_id)
        return {
            "input_ids": batch.input_ids,
            "labels": batch.labels,
            "attention_mask": batch.attention_mask,
            "prefix_ids": batch.prefix,
        }


def prefix_sharing_trainer() -> type[Any]:
    """``SFTTrainer`` whose loss shares each batch's prefix (built on first use, so that
    importing this module does not import TRL)."""
    from trl import SFTTrainer

    class PrefixSharingTrainer(SFTTrainer):  # type: ignore[misc,unused-ignore]
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            batch = TrainingBatch(
                inputs["prefix_ids"],
                inputs["input_ids"],
                inputs["labels"],
                inputs["attention_mask"],
            )
            mean, count = batch_loss(model, batch)
            # TRL's own reduction: the sum over labelled tokens divided by the labelled
            # tokens of every micro-batch the optimizer step accumulates.
            total = count if num_items_in_batch is None else num_items_in_batch
            loss = mean * count / max(int(total), 1)
            if return_outputs:
                return loss, {}
            return loss

    return PrefixSharingTrainer


def progress_callback(
    log: LossLog,
    on_step: Callable[[int, int, float], None] | None,
    on_eval: Callable[[float, float], None] | None,
) -> Any:
    """A ``TrainerCallback`` that records losses into ``log`` and reports them."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):  # type: ignore[misc,unused-ignore]
        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            logs = logs or {}
            if "loss" in logs:
                loss = float(logs["loss"])
                log.steps.append((int(state.global_step), loss))
                if on_step is not None:
                    on_step(int(state.global_step), int(state.max_steps), loss)
            if "eval_loss" in logs:
                epoch = float(state.epoch or 0.0)
                log.evals.append((epoch, float(logs["eval_loss"])))
                if on_eval is not None:
                    on_eval(epoch, float(logs["eval_loss"]))

    return Progress()
