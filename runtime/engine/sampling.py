"""Per-request sampling: the llama.cpp sampler chain and the text that comes out of it.

The chain is built in the order llama-cpp-python's `Llama` builds it (penalties over the
last 64 generated tokens, grammar, then greedy or top-k/typical/top-p/min-p/temperature),
so a greedy answer is the same token for token on both paths.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Any

from edgekit.bundle.answer_settings import DEFAULTS

PENALTY_LAST_N = 64  # llama-cpp-python's default last_n_tokens_size
DEFAULT_SEED = 0xFFFFFFFF  # llama.cpp: pick a random seed


@dataclass(frozen=True)
class SamplingSpec:
    max_tokens: int = DEFAULTS.max_tokens
    temperature: float = DEFAULTS.temperature
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None  # GBNF text

    @classmethod
    def from_params(cls, params: dict[str, Any], grammar: str | None = None) -> SamplingSpec:
        """From the keyword arguments `create_chat_completion` would get; what they leave
        out takes this class's defaults (max_tokens and temperature are the bundle's)."""
        stop = params.get("stop") or ()
        d = cls()
        return cls(
            max_tokens=int(params.get("max_tokens") or d.max_tokens),
            temperature=float(params.get("temperature", d.temperature)),
            top_p=float(params.get("top_p", d.top_p)),
            top_k=int(params.get("top_k", d.top_k)),
            min_p=float(params.get("min_p", d.min_p)),
            repeat_penalty=float(params.get("repeat_penalty", d.repeat_penalty)),
            frequency_penalty=float(params.get("frequency_penalty", d.frequency_penalty)),
            presence_penalty=float(params.get("presence_penalty", d.presence_penalty)),
            seed=params.get("seed"),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            grammar=grammar,
        )


def sampler_chain(model: Any, spec: SamplingSpec) -> Any:
    """A fresh llama.cpp sampler chain for one sequence (owns its grammar and RNG state)."""
    from llama_cpp import _internals

    s = _internals.LlamaSampler()
    s.add_penalties(
        model.n_vocab,
        PENALTY_LAST_N,
        spec.repeat_penalty,
        spec.frequency_penalty,
        spec.presence_penalty,
    )
    if spec.grammar:
        _add_grammar(s, model, spec.grammar)
    seed = DEFAULT_SEED if spec.seed is None else spec.seed & 0xFFFFFFFF
    if spec.temperature < 0:
        s.add_dist(seed)
    elif spec.temperature == 0:
        s.add_greedy()
    else:
        s.add_top_k(spec.top_k)
        s.add_typical(1.0, 1)
        s.add_top_p(spec.top_p, 1)
        s.add_min_p(spec.min_p, 1)
        s.add_temp(spec.temperature)
        s.add_dist(seed)
    return s


def _add_grammar(chain: Any, model: Any, grammar: str) -> None:
    import llama_cpp

    g = llama_cpp.llama_sampler_init_grammar(model.vocab, grammar.encode(), b"root")
    if not g:
        raise ValueError("llama.cpp rejected the grammar (GBNF parse error)")
    llama_cpp.llama_sampler_chain_add(chain.sampler, g)


@dataclass
class TextOut:
    """Token bytes -> text pieces: holds back incomplete UTF-8 and any tail that could
    still become a stop string; `feed` returns (text to send now, stopped)."""

    stops: tuple[str, ...]
    _decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("ignore"))
    _held: str = ""

    def feed(self, data: bytes) -> tuple[str, bool]:
        text = self._held + self._decoder.decode(data)
        if not self.stops:
            self._held = ""
            return text, False
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return text[:cut], True
        keep = max((_partial(text, s) for s in self.stops), default=0)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        text, self._held = self._held + self._decoder.decode(b"", final=True), ""
        return text


def _partial(text: str, stop: str) -> int:
    """Length of the longest end of `text` that begins `stop`."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0
