"""Helpers for the adapter lifecycle tests: a site copy of the tiny bundle, keys, adapters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def site_copy(bundle_dir: Path, dest: Path) -> Path:
    """A private copy of a bundle (imports write state next to it)."""
    bundle = dest / bundle_dir.name
    shutil.copytree(bundle_dir, bundle)
    return bundle


def make_adapter(base_dir: Path, out: Path, scale: float, seed: int = 0) -> Path:
    """A PEFT LoRA with random A and B, B scaled by ``scale``: 0 is an exact no-op, small
    values change little, large ones break the model (the gate must refuse those)."""
    import peft
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_pretrained(base_dir)
    cfg = peft.LoraConfig(
        r=8,
        lora_alpha=16,
        init_lora_weights=False,
        target_modules=["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
    )
    lora = peft.get_peft_model(model, cfg)
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.mul_(scale)
    lora.save_pretrained(out)
    return out


def eval_set(path: Path) -> Path:
    rows = [
        {"prompt": "How long does a self-rescuer last?", "answer": "About 30 minutes."},
        {"prompt": "What colour is a refuge chamber light?", "answer": "Green and flashing."},
        {"prompt": "Who may enter a sealed area?", "answer": "Only the rescue team."},
        {"prompt": "When is the gas monitor bump tested?", "answer": "Before every shift."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
