"""Quantization quality measured with llama.cpp logits, the statistics llama.cpp's own
perplexity tool reports: perplexity and ΔPPL %, mean KL divergence to the reference (F16)
and how often the top token stays the same."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import deps
from edgekit.native import capture_native_output


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _logprobs(
    path: Path, texts: list[str], max_tokens: int, threads: int
) -> tuple[list[np.ndarray], list[list[int]]]:
    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=max_tokens + 8,
            logits_all=True,
            n_threads=threads,
            verbose=False,
        )
    out, ids = [], []
    for text in texts:
        tokens = llm.tokenize(text.encode(), add_bos=True)[:max_tokens]
        if len(tokens) < 2:
            continue
        llm.reset()
        llm.eval(tokens)
        out.append(_log_softmax(np.asarray(llm.scores[: len(tokens) - 1], dtype=np.float32)))
        ids.append(tokens)
    return out, ids


def evaluate_ggufs(
    reference: Path,
    candidates: dict[str, Path],
    texts: list[str],
    max_tokens: int = 256,
    threads: int = 1,
) -> dict[str, dict[str, Any]]:
    """Per GGUF type: size, perplexity, ΔPPL % vs the reference, mean KLD, top-1 agreement."""
    ref, ids = _logprobs(reference, texts, max_tokens, threads)
    if not ref:
        raise ValueError("no evaluation text long enough to score")

    def ppl(lps: list[np.ndarray]) -> float:
        nll = [-lp[np.arange(len(t) - 1), t[1:]] for lp, t in zip(lps, ids)]
        return math.exp(float(np.concatenate(nll).mean()))

    base = ppl(ref)
    table = {
        "reference": {
            "path": str(reference),
            "size": reference.stat().st_size,
            "ppl": base,
            "delta_ppl_pct": 0.0,
            "kld": 0.0,
            "top1": 1.0,
        }
    }
    for qtype, path in candidates.items():
        lps, _ = _logprobs(path, texts, max_tokens, threads)
        kld = np.concatenate([(np.exp(r) * (r - q)).sum(-1) for r, q in zip(ref, lps)])
        top = np.concatenate([r.argmax(-1) == q.argmax(-1) for r, q in zip(ref, lps)])
        value = ppl(lps)
        table[qtype] = {
            "path": str(path),
            "size": path.stat().st_size,
            "ppl": value,
            "delta_ppl_pct": (value / base - 1) * 100,
            "kld": float(max(kld.mean(), 0.0)),
            "top1": float(top.mean()),
        }
    return table
