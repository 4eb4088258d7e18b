"""`edgekit eval forgetting`: what tuning cost in general ability and gained in the domain.

Perplexity of base and tuned model on the held-out domain split and the held-out general
split (assistant tokens only), and mean KL(base || tuned) of the next-token distributions
on the general prompts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.models import PreparedModel
from edgekit.train.tokenize import IGNORE, collate


def _load(base: PreparedModel, tuned: Path | None) -> Any:
    torch = deps.require("torch")
    transformers = deps.require("transformers")
    if tuned is not None and (tuned / "adapter_config.json").is_file():
        peft = deps.require("peft")
        model = transformers.AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
        return peft.PeftModel.from_pretrained(model, tuned).merge_and_unload().eval()
    path = tuned if tuned is not None else base.path
    return transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def _nll_and_logits(
    model: Any, examples: list[dict[str, list[int]]], keep_logits: bool
) -> tuple[float, int, list[Any]]:
    torch = deps.require("torch")
    total, count, kept = 0.0, 0, []
    with torch.no_grad():
        for ex in examples:
            batch = collate([ex], pad_id=0, multiple=1)
            logits = model(input_ids=batch["input_ids"]).logits[0, :-1]
            labels = batch["labels"][0, 1:]
            mask = labels != IGNORE
            logp = torch.log_softmax(logits[mask].float(), dim=-1)
            total -= float(logp.gather(-1, labels[mask][:, None]).sum())
            count += int(mask.sum())
            if keep_logits:
                kept.append(logp)
    return total, count, kept


def evaluate_forgetting(
    base: PreparedModel, tuned: Path, data_dir: Path, max_len: int = 512
) -> dict[str, Any]:
    """The forgetting table as a dict (see module docstring)."""
    from edgekit.train.tokenize import load_examples as _examples

    transformers = deps.require("transformers")
    torch = deps.require("torch")
    tok = transformers.AutoTokenizer.from_pretrained(base.path)
    splits = {}
    for name, file in (("domain", "eval_domain.jsonl"), ("general", "eval_general.jsonl")):
        if (data_dir / file).is_file():
            rows = _examples(tok, data_dir, "sft", max_len, file)
            if rows:
                splits[name] = rows
    result: dict[str, Any] = {}
    logits: dict[str, list[Any]] = {}
    for label, path in (("base", None), ("tuned", tuned)):
        model = _load(base, path)
        for split, rows in splits.items():
            nll, n, kept = _nll_and_logits(model, rows, keep_logits=split == "general")
            result.setdefault(split, {})[f"{label}_ppl"] = math.exp(nll / max(n, 1))
            result[split]["tokens"] = n
            if kept:
                logits[label] = kept
        del model
    for split in result.values():
        split["ratio"] = split["tuned_ppl"] / split["base_ppl"]
    if "base" in logits and "tuned" in logits:
        kl, n = 0.0, 0
        for p, q in zip(logits["base"], logits["tuned"]):
            kl += float((p.exp() * (p - q)).sum())
            n += p.shape[0]
        result["kl_base_tuned_general"] = kl / max(n, 1)
    del torch
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{'split':<10}{'base PPL':>10}{'tuned PPL':>11}{'ratio':>8}{'tokens':>8}"]
    for split in ("domain", "general"):
        if split in result:
            r = result[split]
            lines.append(
                f"{split:<10}{r['base_ppl']:>10.2f}{r['tuned_ppl']:>11.2f}"
                f"{r['ratio']:>8.3f}{r['tokens']:>8}"
            )
    if "kl_base_tuned_general" in result:
        lines.append(
            f"mean KL(base||tuned) on general prompts: {result['kl_base_tuned_general']:.4f}"
        )
    return "\n".join(lines)
