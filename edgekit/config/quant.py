"""Config section `quantize:`: GGUF types (a list, or `auto` against a measured budget) and
an optional GPTQ checkpoint."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from edgekit.config.base import Section

GGUF_TYPES = (
    "F16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q5_K_S",
    "Q5_0",
    "Q5_1",
    "Q4_K_M",
    "Q4_K_S",
    "Q4_0",
    "Q4_1",
    "Q3_K_M",
    "Q3_K_S",
    "Q3_K_L",
    "Q2_K",
)
AUTO = "auto"
#: The types `auto` tries by default, smallest first.
AUTO_CANDIDATES = ("Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0")


def _gguf_type(value: str) -> str:
    if value.upper() not in GGUF_TYPES:
        raise ValueError(f"unknown GGUF type {value!r}; choose from {', '.join(GGUF_TYPES)}")
    return value.upper()


def _types(value: list[str]) -> list[str]:
    out = [_gguf_type(t) for t in value]
    if len(set(out)) != len(out):
        raise ValueError("a GGUF type is listed twice")
    return out


class BudgetSection(Section):
    max_kld: float = Field(0.05, gt=0)
    """Largest mean KL divergence (nats per token) from the F16 model's next-token
    distribution that `gguf: auto` accepts."""

    max_ppl_increase: float = Field(3.0, gt=0)
    """Largest perplexity increase over F16, in percent, that `gguf: auto` accepts (3 or
    "3%" both mean +3 %)."""

    @field_validator("max_ppl_increase", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("%"):
            return value.strip()[:-1].strip()
        return value


class GPTQSection(Section):
    bits: Literal[2, 3, 4, 8] = 4
    """Weight bits of the GPTQ checkpoint."""

    group_size: int = Field(128, ge=-1)
    """Columns that share one scale (-1: one scale per output row). When it does not
    divide every layer's input width, the largest of 128/64/32 that does is used (logged)."""

    samples: int = Field(128, ge=1, le=4096)
    """Calibration samples: pieces of the domain training text (SFT answers and
    pretraining text, never the eval splits; the docs without training)."""

    @field_validator("group_size")
    @classmethod
    def _group(cls, value: int) -> int:
        if value == 0 or (value > 0 and value & (value - 1)):
            raise ValueError("group_size must be -1 or a power of two (32, 64, 128, ...)")
        return value


class QuantizeSection(Section):
    gguf: list[str] | Literal["auto"] = Field(default_factory=lambda: ["Q8_0"])
    """llama.cpp GGUF types to produce (F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, ...); the first one
    is the model that `edgekit chat` loads. Or `auto`: quantize the `candidates` from the
    smallest up, measure each against F16 on held-out text and ship the smallest within
    `budget` (F16 when none is). An empty list ships no GGUF (needs `gptq`)."""

    candidates: list[str] = Field(default_factory=lambda: list(AUTO_CANDIDATES), min_length=1)
    """Types `gguf: auto` tries, smallest first."""

    budget: BudgetSection = Field(default_factory=BudgetSection)
    """Quality that `gguf: auto` must keep, measured against the F16 GGUF."""

    measure: bool = True
    """Measure every shipped GGUF type against F16 on held-out domain and general text
    (report/quant.json and quant.png in the bundle). `auto` always measures."""

    eval_tokens: int = Field(4096, ge=256, le=1_000_000)
    """Tokens of held-out text scored per model when measuring (256 per text at most)."""

    gptq: GPTQSection | None = None
    """Also write a GPTQ checkpoint (model/gptq/ in the bundle) for GPU servers running
    vLLM, TGI or transformers, e.g. `gptq: {bits: 4, group_size: 128}`."""

    @field_validator("gguf", mode="before")
    @classmethod
    def _auto_or_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() == AUTO:
                return AUTO
        if isinstance(value, str) or not isinstance(value, list):
            raise ValueError(f"expected a list of GGUF types or 'auto' (got {value!r})")
        return value

    @field_validator("gguf")
    @classmethod
    def _known_types(cls, value: list[str] | str) -> list[str] | str:
        return value if value == AUTO else _types(list(value))

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: list[str]) -> list[str]:
        return _types(value)

    @model_validator(mode="after")
    def _something_to_ship(self) -> QuantizeSection:
        if self.gguf == [] and self.gptq is None:
            raise ValueError("gguf is empty and gptq is not set: the bundle would have no model")
        return self

    @property
    def auto(self) -> bool:
        return self.gguf == AUTO
