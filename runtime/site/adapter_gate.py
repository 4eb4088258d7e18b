"""The eval gate of `edgekit adapter import`: score reference answers with llama.cpp.

The score is the perplexity of each eval item's reference answer given its prompt (teacher
forcing, answer tokens only), on the bundle's GGUF with the candidate adapter and with the
adapter now in use. It is deterministic, needs no judge and runs on the site's CPU; an
adapter that broke the model (or was trained on something else) shows up as a jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import deps
from edgekit.native import capture_native_output


@dataclass(frozen=True)
class SetScore:
    name: str
    items: int
    tokens: int
    ppl: float


def prompt_tokens(llm: Any, messages: list[dict[str, str]]) -> list[int]:
    """The tokens the runtime sends before the answer: the GGUF's chat template rendered
    and tokenized as llama-cpp-python's chat handler does (plain "role: text" without one)."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return llm.tokenize(text.encode())
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos, bos = llm.token_eos(), llm.token_bos()
    fmt = Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
    )
    out = fmt(messages=messages)
    return llm.tokenize(out.prompt.encode(), add_bos=not out.added_special, special=True)


def answer_nll(llm: Any, messages: list[dict[str, str]], answer: str) -> tuple[float, int]:
    """(summed negative log-likelihood, token count) of ``answer`` after ``messages``'
    prompt; an answer longer than the context is scored on its first tokens."""
    n_ctx = llm.n_ctx()
    prompt = prompt_tokens(llm, messages)
    target = llm.tokenize(answer.encode(), add_bos=False, special=False)
    target = target[: max(0, n_ctx - len(prompt))]
    if not target:
        return 0.0, 0
    llm.reset()
    llm.eval(prompt + target)
    logits = np.asarray(llm.scores[len(prompt) - 1 : len(prompt) + len(target) - 1])
    logp = _log_softmax(logits.astype(np.float64))
    return -float(logp[np.arange(len(target)), target].sum()), len(target)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def load_scorer(model: Path, lora: Path | None, n_ctx: int, threads: int) -> Any:
    """A llama.cpp instance that keeps every position's logits, for :func:`answer_nll`."""
    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        return llama_cpp.Llama(
            model_path=str(model),
            lora_path=str(lora) if lora else None,
            n_ctx=n_ctx,
            logits_all=True,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )


def score_sets(
    model: Path,
    lora: Path | None,
    sets: dict[str, list[tuple[list[dict[str, str]], str]]],
    n_ctx: int = 1024,
    threads: int = 1,
) -> list[SetScore]:
    """Answer perplexity per eval set for ``model`` (+ ``lora``)."""
    llm = load_scorer(model, lora, n_ctx, threads)
    scores = []
    try:
        for name, items in sets.items():
            nll, count, used = 0.0, 0, 0
            for messages, answer in items:
                item_nll, item_count = answer_nll(llm, messages, answer)
                nll, count, used = nll + item_nll, count + item_count, used + bool(item_count)
            ppl = math.exp(nll / count) if count else float("nan")
            scores.append(SetScore(name, used, count, ppl))
    finally:
        llm.close()
    return scores


@dataclass(frozen=True)
class GateResult:
    accepted: bool
    tolerance: float
    rows: list[dict[str, Any]]

    def table(self) -> str:
        lines = [f"{'eval set':<16} {'items':>5} {'current':>10} {'candidate':>10} {'change':>8}"]
        for r in self.rows:
            lines.append(
                f"{r['set']:<16} {r['items']:>5} {r['current_ppl']:>10.3f} "
                f"{r['candidate_ppl']:>10.3f} {r['change_pct']:>+7.2f}%"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "tolerance": self.tolerance, "rows": self.rows}


def run_gate(
    model: Path,
    current: Path | None,
    candidate: Path,
    sets: dict[str, list[tuple[list[dict[str, str]], str]]],
    tolerance: float,
    threads: int = 1,
) -> GateResult:
    """Accept the candidate unless its answer perplexity on some set is worse than the
    current adapter's by more than ``tolerance`` (0.05 = 5 %)."""
    cur = score_sets(model, current, sets, threads=threads)
    cand = score_sets(model, candidate, sets, threads=threads)
    rows, ok = [], True
    for c, n in zip(cur, cand, strict=True):
        change = (n.ppl / c.ppl - 1.0) if c.ppl > 0 else float("inf")
        passed = math.isfinite(n.ppl) and change <= tolerance
        ok = ok and passed
        rows.append(
            {
                "set": c.name,
                "items": c.items,
                "tokens": c.tokens,
                "current_ppl": c.ppl,
                "candidate_ppl": n.ppl,
                "change_pct": 100.0 * change,
                "passed": passed,
            }
        )
    return GateResult(ok, tolerance, rows)
