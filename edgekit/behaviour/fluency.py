"""Fluency: perplexity of the reference answers given their questions, from llama.cpp
logits of the bundle's GGUF, with the prompt laid out by the GGUF's own chat template
(the same scoring as the adapter gate, `edgekit.runtime.site.adapter_gate`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edgekit.runtime.threads import default_threads

N_CTX = 768  # prompt + answer; longer answers are scored on their first tokens


def answer_perplexity(
    model: Path, items: list[Any], system: str | None, threads: int | None = None
) -> dict[str, Any]:
    """exp(mean NLL) of every reference-answer token after its question's prompt."""
    from edgekit.runtime.site.adapter_gate import answer_nll, load_scorer

    llm = load_scorer(model, None, N_CTX, threads or default_threads())
    nll, count = 0.0, 0
    try:
        for item in items:
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": item.question}
            ]
            item_nll, item_count = answer_nll(llm, messages, item.reference)
            nll, count = nll + item_nll, count + item_count
    finally:
        llm.close()
    return {"perplexity": math.exp(nll / count) if count else None, "tokens": count}
