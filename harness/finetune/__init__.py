"""Fine-tuning: data preparation and validation, local LoRA training, hosted jobs."""
