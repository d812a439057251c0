"""What a fake fine-tuning job trains on and what it produces.

Apart from the endpoints (:mod:`.jobs`) because this is the content the harness reads back
and reports: the training file's checks (the API fails a job on a bad file when the job
starts, not when it is created), the per-epoch metrics events, the last three epochs'
checkpoints, the result file, and the answers of the fine-tuned model: each training prompt
gets its training answer, so a test can tell that the fine-tuned model is the one asked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .chat import text_of


class Job:
    """Internal state of a fine-tuning job (``obj`` is the wire object)."""

    __slots__ = (
        "obj",
        "polls",
        "events",
        "checkpoints",
        "n_examples",
        "n_words",
        "problem",
        "new_id",
    )

    def __init__(self, obj: dict[str, Any], new_id: Callable[[str], str]) -> None:
        self.obj = obj
        self.polls = 0
        self.events: list[dict[str, Any]] = []  # chronological
        self.checkpoints: list[dict[str, Any]] = []  # chronological
        self.n_examples = 0
        self.n_words = 0
        self.problem: str | None = None  # training-file problem: the job fails when it starts
        self.new_id = new_id  # the server's: ids are unique across files, jobs and events

    def event(
        self, message: str, level: str = "info", type_: str = "message", data: Any = None
    ) -> None:
        self.events.append(
            {
                "id": self.new_id("ftevent-"),
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data if data is not None else {},
                "type": type_,
            }
        )


def check_training_file(job: Job, data: bytes) -> None:
    """Count the examples of a supervised training file; note its first problem, if any."""
    problem = None
    for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            example = json.loads(line)
        except ValueError:
            problem = f"line {lineno} is not valid JSON"
            break
        if not isinstance(example, dict):
            problem = f"line {lineno} is not a JSON object"
            break
        if not isinstance(example.get("messages"), list):
            problem = f"line {lineno} has no 'messages' list"
            break
        job.n_examples += 1
        job.n_words += len(line.split())
    if problem is None and job.n_examples == 0:
        problem = "the file contains no training examples"
    if problem is not None:
        job.problem = f"The job failed due to an invalid training file: {problem}."


def train(job: Job, ft_model: str, n_epochs: int, now: int) -> bytes:
    """Add the metrics events and checkpoints of a finished training; return the result file."""
    steps_per_epoch = max(1, job.n_examples)
    total = steps_per_epoch * n_epochs
    for epoch in range(1, n_epochs + 1):
        step = epoch * steps_per_epoch
        loss = round(1.0 / (epoch + 1), 4)
        acc = round(1.0 - loss / 2, 4)
        job.event(
            f"Step {step}/{total}: training loss={loss:.4f}",
            type_="metrics",
            data={
                "step": step,
                "train_loss": loss,
                "total_steps": total,
                "train_mean_token_accuracy": acc,
            },
        )
        if epoch > n_epochs - 3:  # the API keeps the last three epochs' checkpoints
            ckpt_model = ft_model if epoch == n_epochs else f"{ft_model}:ckpt-step-{step}"
            job.checkpoints.append(
                {
                    "id": job.new_id("ftckpt_"),
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": now,
                    "fine_tuned_model_checkpoint": ckpt_model,
                    "fine_tuning_job_id": job.obj["id"],
                    "metrics": {
                        "step": float(step),
                        "train_loss": loss,
                        "train_mean_token_accuracy": acc,
                        "valid_loss": None,
                        "valid_mean_token_accuracy": None,
                        "full_valid_loss": None,
                        "full_valid_mean_token_accuracy": None,
                    },
                    "step_number": step,
                }
            )
    csv = "step,train_loss,train_accuracy\n" + "".join(
        f"{e * steps_per_epoch},{1.0 / (e + 1):.4f},{1.0 - 0.5 / (e + 1):.4f}\n"
        for e in range(1, n_epochs + 1)
    )
    return csv.encode()


def training_answers(data: bytes) -> dict[str, str]:
    """Each training prompt's answer, for the fine-tuned model to give."""
    memory: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            msgs = json.loads(line).get("messages") or []
        except (ValueError, AttributeError):
            continue
        prompt = None
        for m in msgs:
            if not isinstance(m, dict):
                continue
            if m.get("role") == "user":
                prompt = text_of(m.get("content"))
            elif m.get("role") == "assistant" and prompt is not None:
                memory[prompt] = text_of(m.get("content"))
    return memory
