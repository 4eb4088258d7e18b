"""How a bundle answers: the typed runtime settings every answer path reads.

Defaults live here once. They are applied in one order: these defaults, then the bundle's
manifest (the config's `prompt:` and `kb:` values as built, then the settings chosen by
measurement at build time, K_ANSWER), then a request's own values (temperature, max_tokens,
...). `edgekit chat`, `edgekit serve`, the behaviour eval and the QA eval all read them
through :meth:`AnswerSettings.from_manifest`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from edgekit.bundle import manifest as mf

EXCERPT_ORDERS = ("rank", "edges", "best_last")
PROMPT_STYLES = ("cite", "short", "quote", "extract")
SEGMENTERS = ("jieba", "bigram")


@dataclass(frozen=True)
class Attention:
    """How llama.cpp computes attention in every context that answers (chat, serve's
    engine, the QA evals, the tuning gate): one value, so the same question gets the same
    greedy answer on every path. Types are ggml type ids (ggml.h)."""

    flash: bool
    type_k: int
    type_v: int

    def llama_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for llama_cpp.Llama."""
        return {"flash_attn": self.flash, "type_k": self.type_k, "type_v": self.type_v}


GGML_F16, GGML_BF16 = 1, 30
# Batch-invariant on CPU (measured: bench/engine_invariance.py, 8/8 long prompts alone ==
# batched == cached, against 4/8 and 3/8 for llama.cpp's defaults). With K and V of
# different types, llama.cpp's CPU flash attention can take neither its tiled path (prompt
# chunks of 64+ tokens) nor its split-KV path (one token, 512+ cached), which sum in an
# order set by the batch's shape; every query row then takes the same per-row kernel,
# whatever else is in the batch or however the prompt was cut. V in bf16 keeps the cache
# at f16's size and is accumulated in f32.
EXACT_ATTENTION = Attention(flash=True, type_k=GGML_F16, type_v=GGML_BF16)
# llama.cpp's fastest kernels for long prompts (what llama-server runs by default), and the
# one choice on a GPU; an answer may then change with what else is in the batch.
FAST_ATTENTION = Attention(flash=True, type_k=GGML_F16, type_v=GGML_F16)


def attention(gpu_layers: int = 0, fast: bool = False) -> Attention:
    """The attention every answering context of a model uses: exact on CPU unless asked
    for speed; on a GPU llama.cpp's own (its kernels are shape-dependent anyway)."""
    return FAST_ATTENTION if fast or gpu_layers != 0 else EXACT_ATTENTION


@dataclass(frozen=True)
class AnswerSettings:
    """Prompt, retrieval and decoding settings for one bundle."""

    system_prompt: str = ""
    max_tokens: int = 256
    temperature: float = 0.2
    n_ctx: int = 2048
    top_k: int = 4
    """Chunks retrieved per question."""
    context_tokens: int = 800
    """Token budget (model tokens) for the retrieved excerpts in the prompt."""
    fusion: str = "convex"
    bm25_weight: float = 0.4
    vector_weight: float = 0.6
    bm25_segmenter: str = "jieba"
    """How keyword search cuts Chinese text into words (edgekit.kb.segment): jieba
    (dictionary words) or bigram (adjacent character pairs); Latin words either way."""
    excerpt_order: str = "edges"
    """rank: best first; edges: best first, second-best last; best_last: best next to the
    question."""
    prompt_style: str = "cite"
    """cite: instruction, excerpts, question; short: excerpts, question, then the
    instruction to answer in one short sentence from the excerpts and cite; quote: as
    short, and the answer starts with the excerpts' sentence that best matches the
    question, quoted and cited (edgekit.kb.evidence), before one line of the model's own;
    extract: that quote alone, without a model call, or the abstention when no sentence
    matches the question well enough."""
    repeat_penalty: float = 1.0
    loop_guard: bool = True
    """Stop a generation that repeats itself (see edgekit.runtime.answer.loops)."""

    def __post_init__(self) -> None:
        if self.excerpt_order not in EXCERPT_ORDERS:
            raise ValueError(f"excerpt_order must be one of {EXCERPT_ORDERS}")
        if self.bm25_segmenter not in SEGMENTERS:
            raise ValueError(f"bm25_segmenter must be one of {SEGMENTERS}")
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {PROMPT_STYLES}")

    def with_values(self, **values: Any) -> AnswerSettings:
        """A copy with ``values`` applied; None values are ignored."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def tunable(self) -> dict[str, Any]:
        """The values the build may choose by measurement."""
        return {k: v for k, v in asdict(self).items() if k in TUNABLE}

    def stored(self) -> dict[str, Any]:
        """What a manifest keeps of these settings under `runtime.answer` (and
        `runtime.answer_config`): every retrieval and prompt value, once; the manifest's
        `kb` section says only what the knowledge base is."""
        return {k: v for k, v in asdict(self).items() if k in STORED}

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], chosen: bool = True) -> AnswerSettings:
        """The bundle's settings; ``chosen=False`` ignores what the build chose by
        measurement and gives the config's own values."""
        rt = manifest.get(mf.K_RUNTIME) or {}
        kb = manifest.get(mf.K_KB) or {}  # bundles made before 2026-12 kept these there
        fusion = kb.get(mf.K_FUSION) or {}
        values: dict[str, Any] = {
            "system_prompt": rt.get(mf.K_SYSTEM_PROMPT),
            "max_tokens": rt.get(mf.K_MAX_TOKENS),
            "temperature": rt.get(mf.K_TEMPERATURE),
            "n_ctx": rt.get(mf.K_N_CTX),
            "top_k": kb.get(mf.K_TOP_K),
            "context_tokens": kb.get(mf.K_CONTEXT_TOKENS),
            "fusion": fusion.get("method"),
            "bm25_weight": fusion.get("bm25"),
            "vector_weight": fusion.get("vector"),
            "bm25_segmenter": kb.get(mf.K_BM25_SEGMENTER),
        }
        names = {f.name for f in fields(cls)}
        answer = rt.get(mf.K_ANSWER if chosen else mf.K_ANSWER_CONFIG) or {}
        values.update({k: v for k, v in answer.items() if k in names})
        return cls().with_values(**values)


TUNABLE = (
    "bm25_segmenter",
    "top_k",
    "context_tokens",
    "bm25_weight",
    "vector_weight",
    "excerpt_order",
    "prompt_style",
    "repeat_penalty",
)
STORED = (*TUNABLE, "fusion")
DEFAULTS = AnswerSettings()
