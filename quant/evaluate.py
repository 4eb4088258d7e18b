"""Quantization quality measured with llama.cpp logits, the statistics llama.cpp's own
perplexity tool reports: perplexity and ΔPPL %, mean KL divergence to the reference (F16)
and how often the top token stays the same.

The reference's log-probabilities are computed once and kept (float16, so 4096 tokens of a
49k vocabulary take 400 MB) while each candidate is scored against them. A candidate's
log-probabilities can come from llama.cpp (GGUF) or any other backend (GPTQ through
transformers) fed the same token ids.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import deps
from edgekit.native import capture_native_output


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def load_gguf(path: Path, n_ctx: int, threads: int, logits_all: bool = True) -> Any:
    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            logits_all=logits_all,
            n_threads=threads,
            n_threads_batch=threads,  # llama-cpp-python's default is every CPU
            verbose=False,
        )


def gguf_logprobs(llm: Any, ids: list[list[int]]) -> Iterator[np.ndarray]:
    """Next-token log-probabilities of a loaded llama.cpp model for each token sequence."""
    for tokens in ids:
        llm.reset()
        llm.eval(tokens)
        yield log_softmax(llm.scores[: len(tokens) - 1])


@dataclass
class Reference:
    """The reference model's scores on the evaluation tokens."""

    path: Path
    ids: list[list[int]]
    logprobs: list[np.ndarray]  # float16, one [len-1, vocab] array per sequence
    nll: float  # mean negative log-likelihood per token
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return sum(len(t) - 1 for t in self.ids)

    @property
    def ppl(self) -> float:
        return math.exp(self.nll)


@dataclass
class _Scores:
    nll: list[float] = field(default_factory=list)
    kld: list[float] = field(default_factory=list)
    top: list[float] = field(default_factory=list)


def _next_nll(lp: np.ndarray, tokens: list[int]) -> np.ndarray:
    return -lp[np.arange(len(tokens) - 1), tokens[1:]].astype(np.float64)


def tokenize(path: Path, texts: list[str], max_tokens: int, total_tokens: int) -> list[list[int]]:
    """Token ids of ``texts`` for the model at ``path`` (each cut at ``max_tokens``; texts
    are taken in order until ``total_tokens`` are scored)."""
    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    ids, total = [], 0
    for text in texts:
        tokens = llm.tokenize(text.encode(), add_bos=True)[:max_tokens]
        if len(tokens) < 2:
            continue
        ids.append(tokens)
        total += len(tokens) - 1
        if total >= total_tokens:
            break
    return ids


def reference(
    path: Path,
    texts: list[str],
    max_tokens: int = 256,
    total_tokens: int = 1 << 30,
    threads: int = 1,
) -> Reference:
    """Score the reference GGUF (F16) once; candidates are compared against this."""
    ids = tokenize(path, texts, max_tokens, total_tokens)
    if not ids:
        raise ValueError("no evaluation text long enough to score")
    start = time.perf_counter()
    llm = load_gguf(path, max(len(t) for t in ids) + 8, threads)
    kept, nll = [], []
    for lp, tokens in zip(gguf_logprobs(llm, ids), ids):
        nll.append(_next_nll(lp, tokens))
        kept.append(lp.astype(np.float16))
    del llm
    mean = float(np.concatenate(nll).mean())
    return Reference(path, ids, kept, mean, time.perf_counter() - start)


def score(ref: Reference, logprobs: Iterable[np.ndarray]) -> dict[str, float]:
    """PPL, ΔPPL %, mean KL(ref || candidate) and top-1 agreement of a candidate whose
    next-token log-probabilities (float32, one array per ``ref.ids`` sequence) are given."""
    s = _Scores()
    n = 0
    for r16, q, tokens in zip(ref.logprobs, logprobs, ref.ids):
        r = r16.astype(np.float32)
        q = np.asarray(q, dtype=np.float32)[: len(tokens) - 1, : r.shape[1]]
        s.nll.extend(_next_nll(q, tokens))
        s.kld.extend((np.exp(r) * (r - q)).sum(-1).tolist())
        s.top.extend((r.argmax(-1) == q.argmax(-1)).tolist())
        n += 1
    if n != len(ref.ids):
        raise ValueError(f"candidate scored {n} of {len(ref.ids)} sequences")
    ppl = math.exp(float(np.mean(s.nll)))
    return {
        "ppl": ppl,
        "dppl_pct": (ppl / ref.ppl - 1) * 100,
        "kld": float(max(np.mean(s.kld), 0.0)),
        "top1": float(np.mean(s.top)),
    }


def compare_gguf(ref: Reference, path: Path, threads: int = 1) -> dict[str, float]:
    """Score one GGUF against the reference (same token ids)."""
    llm = load_gguf(path, max(len(t) for t in ref.ids) + 8, threads)
    try:
        return score(ref, gguf_logprobs(llm, ref.ids))
    finally:
        del llm


def generation_speed(path: Path, threads: int = 1, n_tokens: int = 64) -> float:
    """Tokens per second generating ``n_tokens`` greedily after a short prompt (the prompt's
    own processing is timed apart and left out)."""
    llm = load_gguf(path, 256, threads, logits_all=False)
    prompt = "The safety officer explained that"
    llm.create_completion(prompt, max_tokens=1, temperature=0.0)  # warm up, prompt cached
    start = time.perf_counter()
    out = llm.create_completion(prompt, max_tokens=n_tokens, temperature=0.0)
    seconds = time.perf_counter() - start
    return max(int(out["usage"]["completion_tokens"]), 1) / seconds


def evaluate_ggufs(
    reference_path: Path,
    candidates: dict[str, Path],
    texts: list[str],
    max_tokens: int = 256,
    threads: int = 1,
) -> dict[str, dict[str, Any]]:
    """Per GGUF type: size, perplexity, ΔPPL % vs the reference, mean KLD, top-1 agreement."""
    ref = reference(reference_path, texts, max_tokens, threads=threads)
    table: dict[str, dict[str, Any]] = {
        "reference": {
            "path": str(reference_path),
            "size": reference_path.stat().st_size,
            "ppl": ref.ppl,
            "delta_ppl_pct": 0.0,
            "kld": 0.0,
            "top1": 1.0,
        }
    }
    for qtype, path in candidates.items():
        row = compare_gguf(ref, path, threads)
        table[qtype] = {
            "path": str(path),
            "size": path.stat().st_size,
            "ppl": row["ppl"],
            "delta_ppl_pct": row["dppl_pct"],
            "kld": row["kld"],
            "top1": row["top1"],
        }
    return table
