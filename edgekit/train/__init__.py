"""Training: continued pretraining and SFT (LoRA or full), distillation, forgetting eval."""
