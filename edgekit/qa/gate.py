"""The tuning gate: the tuned model ships only when it answers the QA dev split better than
the base model and keeps its general ability (general-text perplexity within budget).

Both are asked the same dev questions through the one answer path, on llama.cpp with the
build's own knowledge base: the base as a Q8_0 GGUF, the tuned model as that GGUF plus the
LoRA in llama.cpp's adapter format (no merge, no second conversion). They are compared in
the answer style that ships: the style is chosen on the same dev questions with the tuned
model first (:func:`choose_style`, the settings choice of edgekit.qa.choose from the model
size's prior), and the bundle's QA eval keeps it (issue 22: the gate compared in the
config's `cite` while the bundle shipped `extract`, where the model is rarely asked).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.bundle.answer_settings import AnswerSettings, attention
from edgekit.native import capture_native_output
from edgekit.qa.choose import SEARCH, choose_settings
from edgekit.qa.prior import model_params
from edgekit.qa.run import QASession, precision, utility
from edgekit.runtime.answer.knowledge import use_answer_settings
from edgekit.runtime.threads import default_threads

GATE_FILE = "gate.json"


@dataclass
class GateResult:
    shipped: str  # "tuned" or "base"
    reason: str
    base: dict[str, Any] = field(default_factory=dict)
    tuned: dict[str, Any] = field(default_factory=dict)
    general_ppl_ratio: float | None = None
    enforced: bool = True
    settings: dict[str, Any] = field(default_factory=dict)  # the answer settings compared in
    style: str | None = None  # their prompt style: the one the bundle ships
    choice_reason: str | None = None  # why that style

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
    ``min_gain`` (or, at equal utility, its answers are more precise: token F1 of the short
    answers, by more than ``min_gain`` too) and general PPL grew by at most
    ``max_general_ratio``."""
    ub, ut = utility(base), utility(tuned)
    pb, pt = precision(base), precision(tuned)
    n = base.get("items", 0)
    scores = f"tuned {ut:.3f} vs base {ub:.3f} on {n} dev questions"
    if ut == ub:
        scores += f", precision (token F1) {pt:.3f} vs {pb:.3f}"
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
    elif ut == ub and pt > pb + max(min_gain, 0.01):
        ok, why = True, f"tuned answers as often right and more precisely: {scores}"
    else:
        ok, why = False, f"tuned does not answer better: {scores}"
    shipped = "tuned" if ok or not enforced else "base"
    if not ok and not enforced:
        why += " (train.gate: false, shipping the tuned model anyway)"
    return GateResult(shipped, why, base, tuned, general_ratio, enforced)


def _open_kb(kb_dir: Path, settings: AnswerSettings) -> Any:
    """The build's KB, read-only (Chroma writes even when reading)."""
    from edgekit.kb.store import KnowledgeBase

    return use_answer_settings(KnowledgeBase.open_read_only(kb_dir), settings)


def open_session(
    gguf: Path,
    lora: Path | None,
    kb_dir: Path,
    rules: list[Any],
    settings: AnswerSettings,
    threads: int | None = None,
) -> QASession:
    """One model (GGUF [+ GGUF LoRA]) with the build's KB, ready for questions; close its
    ``kb`` when done."""

    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        llm = llama_cpp.Llama(
            model_path=str(gguf),
            lora_path=str(lora) if lora else None,
            n_ctx=settings.n_ctx,
            n_threads=threads or default_threads(),
            n_threads_batch=threads or default_threads(),
            **attention().llama_kwargs(),
            verbose=False,
        )
    return QASession(None, llm, _open_kb(kb_dir, settings), rules, settings)


#: what the gate chooses before it compares: the prompt style (retrieval stays the
#: config's; the bundle's QA eval chooses it with the shipped model)
GATE_PINS = ("top_k", "context_tokens", "bm25_weight", "vector_weight", "bm25_segmenter")


def choose_style(
    session: QASession, items: list[Any], settings: AnswerSettings, pinned: list[str]
) -> tuple[AnswerSettings, str]:
    """The prompt style the tuned model (``session``) answers ``items`` best in, from the
    model size's prior (edgekit.qa.choose): (settings, why)."""

    styles = [(label, alts) for label, alts in SEARCH if label == "prompt_style"]
    pins = sorted(set(pinned) | set(GATE_PINS))
    n = model_params(session.llm)
    choice = choose_settings(session, items, settings, pins, styles, n_params=n)
    return choice.settings, choice.reason


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
    session = open_session(gguf, lora, kb_dir, rules, settings, threads)
    try:
        return session.evaluate(items, settings)["metrics"]
    finally:
        session.kb.close()


def compare(
    gguf: Path,
    lora: Path,
    kb_dir: Path,
    rules: list[Any],
    settings: AnswerSettings,
    items: list[Any],
    pinned: list[str],
) -> tuple[dict[str, Any], dict[str, Any], AnswerSettings, str]:
    """Choose the style with the tuned model, then measure base and tuned in it:
    (base metrics, tuned metrics, settings compared in, why those)."""
    tuned = open_session(gguf, lora, kb_dir, rules, settings)
    try:
        if "prompt_style" in pinned:
            chosen, why = settings, f"prompt_style {settings.prompt_style} is set in the config"
        else:
            chosen, why = choose_style(tuned, items, settings, pinned)
        tuned_m = tuned.evaluate(items, chosen)["metrics"]  # answers cached by the choice
    finally:
        tuned.kb.close()
    return measure(gguf, None, kb_dir, rules, chosen, items), tuned_m, chosen, why
