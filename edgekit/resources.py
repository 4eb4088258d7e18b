"""Text that ships inside edgekit: the general prompts (reasoning, writing, arithmetic,
knowledge, ...) that self-replay, the forgetting budget and quantization measure with."""

from __future__ import annotations

import json
from importlib import resources


def general_prompts() -> list[dict[str, str]]:
    """The bundled general prompts, each {"prompt", ...}."""
    text = (resources.files("edgekit") / "data" / "general_prompts.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def general_texts() -> list[str]:
    """The general prompts as plain text."""
    return [p["prompt"] for p in general_prompts()]
