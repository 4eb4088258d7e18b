"""Logit distillation: cache a teacher's top-k next-token distribution once, then add
KL(teacher || student) to the loss at every labelled position."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.train.tokenize import IGNORE


def teacher_cache(
    teacher_dir: Path,
    examples: list[dict[str, list[int]]],
    top_k: int,
    temperature: float,
    path: Path,
) -> list[dict[str, Any]]:
    """Per example: positions t whose next token is labelled, and the teacher's top-k token
    ids and log-probabilities (at ``temperature``) there. Saved to ``path``; reused if present."""
    torch = deps.require("torch")
    if path.is_file():
        return torch.load(path)
    transformers = deps.require("transformers")
    teacher = transformers.AutoModelForCausalLM.from_pretrained(
        teacher_dir, dtype=torch.float32
    ).eval()
    cache = []
    with torch.no_grad():
        for ex in examples:
            ids = torch.tensor([ex["input_ids"]])
            labels = torch.tensor(ex["labels"])
            pos = (labels[1:] != IGNORE).nonzero().flatten()
            logits = teacher(input_ids=ids).logits[0, pos] / temperature
            logp = torch.log_softmax(logits, dim=-1)
            top = logp.topk(top_k, dim=-1)
            cache.append({"pos": pos, "idx": top.indices, "logp": top.values})
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(cache, tmp)
    tmp.replace(path)
    return cache


def kl_loss(student_logits: Any, cached: list[dict[str, Any]], temperature: float) -> Any:
    """Mean over labelled positions of KL(teacher_topk || student restricted to those ids)."""
    torch = deps.require("torch")
    total, count = student_logits.new_zeros(()), 0
    for row, c in enumerate(cached):
        if len(c["pos"]) == 0:
            continue
        s = student_logits[row, c["pos"].to(student_logits.device)] / temperature
        s_top = torch.log_softmax(s.gather(-1, c["idx"].to(s.device)), dim=-1)
        t = torch.log_softmax(c["logp"].to(s.device), dim=-1)  # renormalise the top-k
        total = total + (t.exp() * (t - s_top)).sum()
        count += len(c["pos"])
    return total / max(count, 1) * temperature**2
