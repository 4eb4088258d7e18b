"""The answer plan: (settings, conversation, KB, rules, decoding) -> prompt and decoding
parameters (the answer as generated and shown: edgekit.runtime.answer.stream).

`edgekit chat`, `edgekit serve`, the behaviour eval and the QA eval all call
:func:`plan_answer` (through edgekit.runtime.answer.request where limits and experts
apply), so the same question gets the same prompt everywhere. `chat` and the evals
generate with edgekit.runtime.answer.stream (llama-cpp-python's `Llama`); `serve` sends the
plan to its batching engine (`runtime/engine`), which applies the same chat template and
sampler chain, so a greedy answer is the same on both paths (tests/test_engine.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.kb.context import build_context, user_turn
from edgekit.runtime.answer.support import replacement

Message = dict[str, Any]


@dataclass(frozen=True)
class Decoding:
    """A request's own decoding values; None takes the bundle's setting."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    repeat_penalty: float | None = None


NO_OVERRIDES = Decoding()


@dataclass
class AnswerPlan:
    """What goes to llama.cpp for one answer, and what it was built from."""

    messages: list[Message]
    sampling: dict[str, Any]
    hits: list[Any] = field(default_factory=list)  # cited excerpts; hits[n-1] is [n]
    retrieved: list[Any] = field(default_factory=list)  # every hit retrieval returned
    rules_fired: list[str] = field(default_factory=list)
    fixed_reply: str | None = None
    retrieval_seconds: float = 0.0
    loop_guard: bool = True
    grammar: str | None = None  # GBNF the answer must follow (the `quote` style's prefix)
    answer_span: dict[str, Any] | None = None  # extract/quote: the span (API `answer_span`)
    question: str = ""  # the last user message, as asked
    evidence: Any = None  # the `quote` style's evidence sentence (kb.evidence.Evidence)
    embedder: Any = None  # the KB's embedder, to pick a replacement sentence

    @property
    def max_tokens(self) -> int:
        return int(self.sampling["max_tokens"])

    @property
    def checked(self) -> bool:
        """The model answers from excerpts: its text is judged against them before anyone
        sees it (edgekit.runtime.answer.support), so it is generated in full, then shown."""
        return bool(self.hits) and self.fixed_reply is None


def token_counter(llm: Any) -> Callable[[str], int]:
    """Model tokens in a text, counted one way for every caller."""

    def count(text: str) -> int:
        return len(llm.tokenize(text.encode(), add_bos=False, special=True))

    return count


def sampling_params(settings: AnswerSettings, decoding: Decoding) -> dict[str, Any]:
    """llama.cpp's completion arguments: request values over the bundle's settings."""
    params: dict[str, Any] = {
        "max_tokens": decoding.max_tokens or settings.max_tokens,
        "temperature": (
            settings.temperature if decoding.temperature is None else decoding.temperature
        ),
        "repeat_penalty": (
            settings.repeat_penalty if decoding.repeat_penalty is None else decoding.repeat_penalty
        ),
    }
    if decoding.top_p is not None:
        params["top_p"] = decoding.top_p
    if decoding.seed is not None:
        params["seed"] = decoding.seed
    if decoding.stop:
        params["stop"] = decoding.stop
    return params


def plan_answer(
    settings: AnswerSettings,
    conversation: Sequence[Message],
    count_tokens: Callable[[str], int],
    kb: Any = None,
    rules: Sequence[Any] = (),
    decoding: Decoding = NO_OVERRIDES,
    use_kb: bool = True,
) -> AnswerPlan:
    """Turn a conversation (OpenAI-style messages) into the prompt and decoding parameters.

    The system message is the bundle's system prompt, then the conversation's own system
    messages, then the instructions of any expert rule the last user message fires. When a
    KB is given, the last user message is replaced by the excerpts retrieved for it and the
    question, in the bundle's prompt style."""
    from edgekit.runtime.answer.prompting import apply_rules

    msgs = [dict(m) for m in conversation]
    for m in msgs:
        if m.get("role") == "developer":
            m["role"] = "system"
    last_user = next((str(m["content"]) for m in reversed(msgs) if m["role"] == "user"), "")
    outcome = apply_rules(list(rules), last_user)
    system = "\n\n".join(
        [settings.system_prompt]
        + [str(m["content"]) for m in msgs if m["role"] == "system"]
        + outcome.instructions
    ).strip()
    others = [m for m in msgs if m["role"] != "system"]
    plan = AnswerPlan(
        [],
        sampling_params(settings, decoding),
        rules_fired=outcome.fired,
        fixed_reply=outcome.reply,
        loop_guard=settings.loop_guard,
    )
    if kb is not None and use_kb and last_user:
        start = time.perf_counter()
        plan.retrieved = kb.query(
            last_user,
            k=settings.top_k,
            weights=retrieval_weights(settings),
            segmenter=settings.bm25_segmenter,
        )
        plan.retrieval_seconds = time.perf_counter() - start
        ctx = build_context(
            plan.retrieved, count_tokens, settings.context_tokens, settings.excerpt_order
        )
        plan.hits = list(ctx.hits)
        plan.question, plan.embedder = last_user, getattr(kb, "embedder", None)
        style = settings.prompt_style
        if style in ("quote", "extract") and plan.hits:
            if not _add_evidence(plan, last_user, kb, style):
                style = "cite"  # `quote` without a matching sentence: the model answers
        for m in reversed(others):
            if m["role"] == "user":
                m["content"] = user_turn(last_user, ctx, style)
                break
    plan.messages = ([{"role": "system", "content": system}] if system else []) + others
    return plan


def _add_evidence(plan: AnswerPlan, question: str, kb: Any, style: str) -> bool:
    """`quote`: the answer must start with the best evidence sentence, quoted and cited;
    `extract`: that quote is the whole answer (no model call). Both start with the answer
    span (kb.span) and mark it in the quote (``plan.answer_span`` describes it). When no
    sentence matches the question well enough, `extract` answers as the support check
    replaces an answer: the sentence sharing some of the question's words and holding an
    answer of the kind asked, quoted, else the abstention; never the model's text (on two
    real PDF manuals its fallback answer to "Who is the on-call electrician for the night
    shift?" was the question restated over an unrelated excerpt). `quote` returns False
    and the model answers with `cite`."""
    from edgekit.kb.evidence import best_sentence, quote_grammar, quoted

    evidence = best_sentence(question, plan.hits, getattr(kb, "embedder", None))
    if evidence is None:
        if style == "extract" and plan.fixed_reply is None:
            plan.fixed_reply = replacement(question, plan.hits, getattr(kb, "embedder", None))
            return True
        return False
    if style == "extract" and plan.fixed_reply is None:
        plan.fixed_reply = quoted(evidence)
        plan.answer_span = evidence.span_field()
    elif style == "quote":
        plan.grammar = quote_grammar(evidence)
        plan.answer_span = evidence.span_field()
        plan.evidence = evidence
    return True


def retrieval_weights(settings: AnswerSettings) -> Any:
    from edgekit.kb.retrieve import FusionWeights

    return FusionWeights(
        bm25=settings.bm25_weight, vector=settings.vector_weight, method=settings.fusion
    )


def prompt_tokens(plan: AnswerPlan, count_tokens: Callable[[str], int]) -> int:
    """Tokens of the prompt as the chat template will see it (+4 per message for the
    role markers)."""
    return sum(count_tokens(str(m.get("content") or "")) + 4 for m in plan.messages)
