"""The tuning gate: the tuned model ships only when it answers the QA dev split better than
the base model and keeps its general ability (general-text perplexity within budget).

Both are asked the same dev questions through the one answer path, on llama.cpp with the
build's own knowledge base: the base as a Q8_0 GGUF, the tuned model as that GGUF plus the
LoRA in llama.cpp's adapter format (no merge, no second conversion).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.bundle.answer_settings import AnswerSettings, attention
from edgekit.qa.run import QASession, utility

GATE_FILE = "gate.json"


@dataclass
class GateResult:
    shipped: str  # "tuned" or "base"
    reason: str
    base: dict[str, Any] = field(default_factory=dict)
    tuned: dict[str, Any] = field(default_factory=dict)
    general_ppl_ratio: float | None = None
    enforced: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    base: dict[str, Any],
    tuned: dict[str, Any],
    general_ratio: float | None,
    max_general_ratio: float,
    min_gain: float,
    enforced: bool = True,
) -> GateResult:
    """Ship the tuned model when its dev utility beats the base's by more than
    ``min_gain`` and general PPL grew by at most ``max_general_ratio``."""
    ub, ut = utility(base), utility(tuned)
    n = base.get("items", 0)
    scores = f"tuned {ut:.3f} vs base {ub:.3f} on {n} dev questions"
    if general_ratio is not None and general_ratio > max_general_ratio:
        ok, why = (
            False,
            (
                f"general ability budget broken: general PPL x{general_ratio:.2f} > "
                f"x{max_general_ratio:.2f} ({scores})"
            ),
        )
    elif ut > ub + min_gain:
        ok, why = True, f"tuned answers better: {scores}"
    else:
        ok, why = False, f"tuned does not answer better: {scores}"
    shipped = "tuned" if ok or not enforced else "base"
    if not ok and not enforced:
        why += " (train.gate: false, shipping the tuned model anyway)"
    return GateResult(shipped, why, base, tuned, general_ratio, enforced)


def _open_kb(kb_dir: Path, settings: AnswerSettings) -> Any:
    """The build's KB, read-only (Chroma writes even when reading)."""
    from edgekit.kb.store import KnowledgeBase
    from edgekit.runtime.answer import retrieval_weights

    kb = KnowledgeBase.open_read_only(kb_dir)
    kb.default_weights = retrieval_weights(settings)
    kb.top_k, kb.context_tokens = settings.top_k, settings.context_tokens
    kb.segmenter = settings.bm25_segmenter
    return kb


def measure(
    gguf: Path,
    lora: Path | None,
    kb_dir: Path,
    rules: list[Any],
    settings: AnswerSettings,
    items: list[Any],
    threads: int | None = None,
) -> dict[str, Any]:
    """QA metrics of one model (GGUF [+ GGUF LoRA]) on ``items``."""
    from edgekit import deps
    from edgekit.native import capture_native_output
    from edgekit.runtime.threads import physical_cores

    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        llm = llama_cpp.Llama(
            model_path=str(gguf),
            lora_path=str(lora) if lora else None,
            n_ctx=settings.n_ctx,
            n_threads=threads or physical_cores(),
            **attention().llama_kwargs(),
            verbose=False,
        )
    kb = _open_kb(kb_dir, settings)
    try:
        return QASession(None, llm, kb, rules, settings).evaluate(items, settings)["metrics"]
    finally:
        kb.close()
