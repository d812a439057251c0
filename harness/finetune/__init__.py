"""Fine-tuning: data preparation and validation, local LoRA training, hosted jobs."""

from harness.finetune.hosted import HostedJob, cancel_job, job_status, start_job, wait_for_job
from harness.finetune.lora import LoraConfig, TrainedAdapter, train_lora
from harness.finetune.prepare import PreparedData, prepare_training_data, write_jsonl
from harness.finetune.validate import ValidationReport, validate_file

__all__ = [
    "HostedJob",
    "LoraConfig",
    "PreparedData",
    "TrainedAdapter",
    "ValidationReport",
    "cancel_job",
    "job_status",
    "prepare_training_data",
    "start_job",
    "train_lora",
    "validate_file",
    "wait_for_job",
    "write_jsonl",
]
