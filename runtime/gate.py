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


def _prompt_text(llm: Any, messages: list[dict[str, str]]) -> str:
    """The prompt as the model sees it at chat time: its own chat template when it has one."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=template, eos_token="", bos_token="")
    return formatter(messages=messages).prompt


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def score_sets(
    model: Path,
    lora: Path | None,
    sets: dict[str, list[tuple[list[dict[str, str]], str]]],
    n_ctx: int = 1024,
    threads: int = 1,
) -> list[SetScore]:
    """Answer perplexity per eval set for ``model`` (+ ``lora``)."""
    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        llm = llama_cpp.Llama(
            model_path=str(model),
            lora_path=str(lora) if lora else None,
            n_ctx=n_ctx,
            logits_all=True,
            n_threads=threads,
            verbose=False,
        )
    scores = []
    try:
        for name, items in sets.items():
            nll, count, used = 0.0, 0, 0
            for messages, answer in items:
                prompt = llm.tokenize(_prompt_text(llm, messages).encode(), add_bos=True)
                target = llm.tokenize(answer.encode(), add_bos=False)
                tokens = (prompt + target)[:n_ctx]
                first = len(prompt)  # index of the first answer token
                if first >= len(tokens):
                    continue
                llm.reset()
                llm.eval(tokens)
                logp = _log_softmax(np.asarray(llm.scores[: len(tokens) - 1], dtype=np.float64))
                for pos in range(first, len(tokens)):
                    nll -= float(logp[pos - 1, tokens[pos]])
                    count += 1
                used += 1
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
