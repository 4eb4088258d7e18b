"""`edgekit chat`: stream answers from a bundle's GGUF with llama.cpp."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import AnswerSettings, attention
from edgekit.native import capture_native_output
from edgekit.runtime.answer.path import NO_OVERRIDES, AnswerPlan, Decoding, token_counter
from edgekit.runtime.answer.request import Limits, PlannedRequest, plan_request
from edgekit.runtime.answer.stream import StreamState, stream_plan
from edgekit.runtime.site.verified import SiteBundle
from edgekit.runtime.threads import default_threads

BOLD, PLAIN = "\033[1m", "\033[0m"


class BoldMarks:
    """The terminal's view of an answer's markdown bold (``**…**``, how `extract` and
    `quote` mark the answer span in their quote): on a terminal (``on``) the marks become
    ANSI bold, piece by piece as the answer streams; otherwise the text passes unchanged,
    marks kept, so a pipe or a file gets the same text `serve` returns."""

    def __init__(self, on: bool) -> None:
        self.on, self.bold, self.carry = on, False, ""

    def feed(self, piece: str) -> str:
        if not self.on:
            return piece
        text, self.carry = self.carry + piece, ""
        if text.endswith("*") and not text.endswith("**"):
            text, self.carry = text[:-1], "*"  # maybe half of a mark split across pieces
        parts = text.split("**")
        out = [parts[0]]
        for part in parts[1:]:
            self.bold = not self.bold
            out += [BOLD if self.bold else PLAIN, part]
        return "".join(out)

    def close(self) -> str:
        """What is left at the end of the answer (and the end of bold, if open)."""
        rest, self.carry = self.carry, ""
        return rest + (PLAIN if self.on and self.bold else "")


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
            n_ctx=n_ctx or AnswerSettings.from_manifest(bundle.manifest).n_ctx,
            n_threads=threads or default_threads(),
            n_threads_batch=threads or default_threads(),
            n_gpu_layers=gpu_layers,
            **attention(gpu_layers).llama_kwargs(),
            verbose=False,
        )


class ChatSession:
    """A conversation with a bundle, planned like a `serve` request
    (edgekit.runtime.answer.request: KB, expert rules, token limits, expert routing) and answered
    through the one answer path (edgekit.runtime.answer.path); keeps history.

    An expert adapter's model is loaded the first time a question is routed to it
    (``load_expert`` takes the adapter's GGUF; default: :func:`load_model` with it)."""

    def __init__(
        self,
        bundle: SiteBundle,
        llm: Any,
        max_tokens: int | None = None,
        temperature: float | None = None,
        kb: Any = None,
        rules: list[Any] | None = None,
        settings: AnswerSettings | None = None,
        adapter: str | None = None,
        load_expert: Callable[[Path], Any] | None = None,
    ) -> None:
        from edgekit.runtime.answer.prompting import load_rules

        base = settings or AnswerSettings.from_manifest(bundle.manifest)
        self.settings = base.with_values(max_tokens=max_tokens, temperature=temperature)
        # a local user is bounded by the context window only, not by a server's output cap
        self.limits = Limits.of(self.settings.n_ctx, max_output_tokens=self.settings.n_ctx)
        self.llm, self.kb, self.adapter = llm, kb, adapter
        self.rules = load_rules(bundle.root / mf.RULES_FILE) if rules is None else rules
        self.count_tokens = token_counter(llm)
        experts = [e for e in bundle.meta.experts if e.gguf]
        self.experts = {e.name: list(e.patterns) for e in experts}
        self._expert_gguf = {e.name: bundle.root / str(e.gguf) for e in experts}
        self._expert_llms: dict[str, Any] = {}
        self._load_expert = load_expert or (lambda lora: load_model(bundle, lora_path=lora))
        self.last_citations: list[str] = []
        self.last_plan: AnswerPlan | None = None
        self.last_adapter: str | None = None
        self.last_state: StreamState | None = None
        self.messages: list[dict[str, str]] = []

    def request(self, question: str, decoding: Decoding = NO_OVERRIDES) -> PlannedRequest:
        """The plan, prompt size and answering adapter for ``question`` after the history
        (raises :class:`edgekit.runtime.answer.request.Refused` over the token limits)."""
        return plan_request(
            self.settings,
            [*self.messages, {"role": "user", "content": question}],
            self.count_tokens,
            self.limits,
            kb=self.kb,
            rules=self.rules,
            decoding=decoding,
            experts=self.experts,
            adapter=self.adapter,
        )

    def plan(self, question: str, decoding: Decoding = NO_OVERRIDES) -> AnswerPlan:
        """The prompt and decoding parameters for ``question`` after the history."""
        return self.request(question, decoding).plan

    def model(self, adapter: str | None) -> Any:
        """The llama.cpp model of an expert adapter (None: the main model)."""
        if adapter is None:
            return self.llm
        if adapter not in self._expert_llms:
            self._expert_llms[adapter] = self._load_expert(self._expert_gguf[adapter])
        return self._expert_llms[adapter]

    def ask(self, question: str, decoding: Decoding = NO_OVERRIDES) -> Iterator[str]:
        """Stream the answer (an answer from excerpts comes whole, once checked against
        them); afterwards ``last_citations`` lists the excerpts it was given,
        ``last_adapter`` the expert that answered and ``last_state.replaced`` whether the
        model's text was replaced."""
        planned = self.request(question, decoding)
        plan = self.last_plan = planned.plan
        self.last_adapter = planned.adapter
        state = self.last_state = StreamState()
        self.last_citations = [f"[{n}] {h.citation()}" for n, h in enumerate(plan.hits, 1)]
        yield from stream_plan(self.model(planned.adapter), plan, state)
        # history keeps the plain question: old excerpts would crowd out new ones
        self.messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": state.text},
        ]
