"""The answer as generated and shown: one loop guard and one settling step for `chat`,
`serve` and the evals.

`serve` feeds the engine's pieces to :class:`StreamState`'s guard itself and calls
:func:`settle_answer` at the end; `chat` and the evals generate with llama-cpp-python's
`Llama` through :func:`stream_plan`, which does the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from edgekit.kb.evidence import quoted
from edgekit.runtime.answer.loops import LoopGuard
from edgekit.runtime.answer.path import AnswerPlan
from edgekit.runtime.answer.support import judge, replacement


@dataclass
class StreamState:
    finish_reason: str = "stop"
    loop_stopped: bool = False
    guard: LoopGuard = field(default_factory=LoopGuard)
    text: str = ""  # the answer as shown (set by settle_answer)
    replaced: str | None = None  # why the model's text was replaced: unsupported|degenerate


def settle_answer(plan: AnswerPlan, state: StreamState) -> str:
    """The answer as shown, once generation has ended (both `chat` and `serve` call this):
    a fixed reply as it is; the model's text with a detected loop cut to its first copy;
    for a checked plan (:attr:`AnswerPlan.checked`), a text the excerpts do not support or a
    degenerate one is replaced (edgekit.runtime.answer.support) and ``state.replaced`` says why."""
    if plan.fixed_reply is not None:
        state.text = plan.fixed_reply
        return state.text
    state.text = state.guard.final_text()
    if not plan.checked:
        return state.text
    reason = judge(state.text, plan.hits, plan.question).reason
    if reason is not None:
        state.replaced = reason
        if plan.evidence is not None:  # `quote`: the quote alone is supported
            state.text = quoted(plan.evidence)
        else:
            state.text = replacement(plan.question, plan.hits, plan.embedder, state.text)
    return state.text


def stream_plan(llm: Any, plan: AnswerPlan, state: StreamState | None = None) -> Iterator[str]:
    """Yield the answer's text pieces (one per token); ``state`` gets the finish reason
    and the answer as shown (:func:`settle_answer`).

    A fixed reply from an expert rule is yielded whole without calling the model, and so
    is a checked answer, once judged. With ``plan.loop_guard`` a generation that starts
    repeating itself is stopped (finish reason "stop", ``state.loop_stopped``)."""
    state = state if state is not None else StreamState()
    if plan.fixed_reply is not None:
        state.finish_reason = "stop"
        yield settle_answer(plan, state)
        return
    pieces = _generate(llm, plan, state)
    if plan.checked:
        for _ in pieces:
            pass
        yield settle_answer(plan, state)
        return
    yield from pieces
    settle_answer(plan, state)


def _generate(llm: Any, plan: AnswerPlan, state: StreamState) -> Iterator[str]:
    extra: dict[str, Any] = {}
    if plan.grammar:
        from llama_cpp import LlamaGrammar  # heavy: loaded when a grammar is used

        extra["grammar"] = LlamaGrammar.from_string(plan.grammar, verbose=False)
    stream = llm.create_chat_completion(
        messages=plan.messages, stream=True, **plan.sampling, **extra
    )
    try:
        for chunk in stream:
            choice = chunk["choices"][0]
            if choice.get("finish_reason"):
                state.finish_reason = choice["finish_reason"]
            piece = choice["delta"].get("content")
            if not piece:
                continue
            yield piece
            if state.guard.feed(piece) and plan.loop_guard:
                state.loop_stopped = True
                state.finish_reason = "stop"
                return
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def answer_text(llm: Any, plan: AnswerPlan) -> tuple[str, StreamState]:
    """The whole answer as shown (see :func:`settle_answer`) and its state."""
    state = StreamState()
    for _ in stream_plan(llm, plan, state):
        pass
    return state.text, state
