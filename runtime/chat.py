"""`edgekit chat`: stream answers from a bundle's GGUF with llama.cpp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.bundle import manifest as mf
from edgekit.native import capture_native_output
from edgekit.runtime.bundle import SiteBundle
from edgekit.runtime.threads import default_threads


def load_model(
    bundle: SiteBundle,
    threads: int | None = None,
    n_ctx: int | None = None,
    qtype: str | None = None,
    gpu_layers: int = 0,
    lora_path: Path | None = None,
) -> Any:
    """A llama_cpp.Llama on the bundle's GGUF (+ a GGUF LoRA); the chat template comes
    from the GGUF."""
    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        return llama_cpp.Llama(
            model_path=str(bundle.model_path(qtype)),
            lora_path=str(lora_path) if lora_path else None,
            n_ctx=n_ctx or int(bundle.runtime.get(mf.K_N_CTX, 2048)),
            n_threads=threads or default_threads(),
            n_gpu_layers=gpu_layers,
            verbose=False,
        )


def stream_answer(
    llm: Any,
    messages: list[dict[str, str]],
    max_tokens: int,
    temperature: float,
    seed: int | None = None,
) -> Iterator[str]:
    """Yield the answer's text pieces as llama.cpp produces them."""
    kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "stream": True}
    if seed is not None:
        kwargs["seed"] = seed
    for chunk in llm.create_chat_completion(messages=messages, **kwargs):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            yield piece


class ChatSession:
    """A conversation with a bundle: keeps history, applies the bundle's prompt settings."""

    def __init__(
        self,
        bundle: SiteBundle,
        llm: Any,
        max_tokens: int | None = None,
        temperature: float | None = None,
        kb: Any = None,
    ) -> None:
        rt = bundle.runtime
        self.llm = llm
        self.max_tokens = max_tokens or int(rt.get(mf.K_MAX_TOKENS, 256))
        self.temperature = (
            temperature if temperature is not None else float(rt.get(mf.K_TEMPERATURE, 0.2))
        )
        self.kb = kb
        self.last_citations: list[str] = []
        self.messages: list[dict[str, str]] = []
        system = rt.get(mf.K_SYSTEM_PROMPT)
        if system:
            self.messages.append({"role": "system", "content": system})

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=False))

    def ask(self, question: str) -> Iterator[str]:
        """Stream the answer; afterwards ``last_citations`` lists the excerpts it was given."""
        turn = question
        self.last_citations = []
        if self.kb is not None:
            from edgekit.kb.context import build_context, question_with_context

            hits = self.kb.query(question)
            context = build_context(hits, self.count_tokens, self.kb.context_tokens)
            turn = question_with_context(question, context)
            self.last_citations = context.citations()
        messages = [*self.messages, {"role": "user", "content": turn}]
        pieces: list[str] = []
        for piece in stream_answer(self.llm, messages, self.max_tokens, self.temperature):
            pieces.append(piece)
            yield piece
        # history keeps the plain question: old excerpts would crowd out new ones
        self.messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "".join(pieces)},
        ]
