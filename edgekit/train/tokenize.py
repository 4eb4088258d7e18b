"""Turn chat examples and raw text into token ids and labels.

SFT: the model's own chat template renders the conversation; only assistant tokens carry a
label, everything else is -100 (ignored by the loss). Pretrain: raw text packed into
fixed-length blocks, every token labelled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.config.layout import TRAIN_FILE

IGNORE = -100


def assistant_spans(tok: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of each assistant reply.

    A reply's span is what the template adds after the generation prompt (the reply and its
    end-of-turn marker). Templates that render earlier turns differently from the last one
    (Qwen3 puts an empty ``<think>`` block before the last reply only) are not
    prefix-consistent; their spans are found in the rendered text instead."""
    full = tok.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix = tok.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        upto = tok.apply_chat_template(messages[: i + 1], tokenize=False)
        if not full.startswith(upto) or not upto.startswith(prefix):
            return full, _found_spans(tok, messages, full)
        spans.append((len(prefix), len(upto)))
    return full, spans


def _found_spans(tok: Any, messages: list[dict[str, str]], full: str) -> list[tuple[int, int]]:
    """Assistant spans located in ``full``: each message's text is looked for in order after
    the previous one; a reply's span runs from its text to the end of its turn (the text the
    template puts after the reply when it is the last message, e.g. ``<|im_end|>\\n``).
    A template-added preamble such as Qwen3's empty ``<think>`` block stays unlabelled."""
    spans, pos = [], 0
    for i, m in enumerate(messages):
        text = m["content"].strip()
        start = full.find(text, pos) if text else -1
        if m["role"] != "assistant":
            if start >= 0:  # a template may fold or rewrite a system/user message: skip it
                pos = start + len(text)
            continue
        if start < 0:
            raise ValueError(
                f"chat template does not render conversations prefix-consistently and reply "
                f"{i} ({text[:40]!r}) is not in the rendered conversation"
            )
        upto = tok.apply_chat_template(messages[: i + 1], tokenize=False)
        closing = upto[upto.rfind(text) + len(text) :]
        end = start + len(text)
        if not full.startswith(closing, end):
            raise ValueError(
                f"chat template ends reply {i} differently inside a conversation than at its end"
            )
        spans.append((start, end + len(closing)))
        pos = end + len(closing)
    return spans


def sft_example(tok: Any, messages: list[dict[str, str]], max_len: int) -> dict[str, list[int]]:
    """input_ids and labels; labels are -100 outside assistant replies (incl. end token)."""
    text, spans = assistant_spans(tok, messages)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for tid, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        inside = any(s <= start and end <= e for s, e in spans) and end > start
        labels.append(tid if inside else IGNORE)
    ids = enc["input_ids"][:max_len]
    return {"input_ids": ids, "labels": labels[:max_len]}


def pack_text(tok: Any, texts: list[str], block: int) -> list[dict[str, list[int]]]:
    """Concatenate texts (separated by EOS) and cut into ``block``-token training sequences."""
    stream: list[int] = []
    for t in texts:
        stream += tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    blocks = [stream[i : i + block] for i in range(0, len(stream) - block // 4, block)]
    return [{"input_ids": b, "labels": list(b)} for b in blocks if len(b) > 1]


def collate(batch: list[dict[str, list[int]]], pad_id: int, multiple: int = 64) -> dict[str, Any]:
    """Right-pad a batch into tensors; padded positions are masked and unlabelled.

    Widths are rounded up to ``multiple``: CPU kernels (oneDNN) are built per shape, and a
    handful of shapes instead of one per batch made bf16 training ~3x faster here.
    """
    import torch

    width = max(len(x["input_ids"]) for x in batch)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, x in enumerate(batch):
        n = len(x["input_ids"])
        ids[i, :n] = torch.tensor(x["input_ids"])
        labels[i, :n] = torch.tensor(x["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def load_examples(
    tok: Any, data_dir: Path, stage: str, max_len: int, name: str = TRAIN_FILE
) -> list[dict[str, list[int]]]:
    """Tokenized examples of one stage: packed pretraining text, or SFT rows of ``name``
    (rows whose answer was cut away entirely are dropped)."""
    if stage == "pretrain":
        text = (data_dir / "pretrain.txt").read_text()
        return pack_text(tok, [t for t in text.split("\n\n") if t.strip()], max_len)
    rows = [json.loads(x) for x in (data_dir / name).read_text().splitlines() if x.strip()]
    out = [sft_example(tok, r["messages"], max_len) for r in rows]
    return [x for x in out if any(label != -100 for label in x["labels"])]
