"""Pack retrieved chunks into a prompt: a token budget, best material at both ends, citations.

Models read the start and the end of a long context best and the middle worst, so the top
hit goes first, the second-best last, and the weakest land in the middle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgekit.kb.records import Hit

CITE_INSTRUCTION = (
    "Answer the question using the reference excerpts below. Cite the excerpt numbers you "
    "used, like [1]. If the excerpts do not contain the answer, say you do not know."
)
SHORT_INSTRUCTION = (
    "Answer the question in one short sentence using only the excerpts above, and cite the "
    "excerpt number like [1]. If the excerpts do not contain the answer, say you do not know."
)


@dataclass(frozen=True)
class Context:
    text: str
    hits: list[Hit]  # the hits that made it in, in rank order; hits[n-1] is excerpt [n]

    def citations(self) -> list[str]:
        return [f"[{n}] {h.citation()}" for n, h in enumerate(self.hits, start=1)]


def edges_first(items: Sequence[Hit]) -> list[Hit]:
    """Rank order 1..n -> 1, 3, 5, ..., 6, 4, 2 (best at the start and at the end)."""
    front = list(items[0::2])
    back = list(items[1::2])
    return front + back[::-1]


def ordered(items: Sequence[Hit], order: str) -> list[Hit]:
    """Hits in the order they are shown: ``rank`` (best first), ``edges`` (best first,
    second-best last) or ``best_last`` (best right before the question)."""
    if order == "rank":
        return list(items)
    if order == "best_last":
        return list(items)[::-1]
    return edges_first(items)


def build_context(
    hits: Sequence[Hit],
    count_tokens: Callable[[str], int],
    budget: int,
    order: str = "edges",
) -> Context:
    """Take hits in rank order while they fit in ``budget`` tokens, then put them in
    ``order`` (see :func:`ordered`). Excerpt numbers follow rank: [1] is the best hit."""
    chosen: list[Hit] = []
    used = 0
    for hit in hits:
        block = f"[{len(chosen) + 1}] {hit.citation()}\n{hit.text}\n\n"
        cost = count_tokens(block)
        if used + cost > budget:
            continue
        chosen.append(hit)
        used += cost
    numbered = {id(h): n for n, h in enumerate(chosen, start=1)}
    blocks = [f"[{numbered[id(h)]}] {h.citation()}\n{h.text}" for h in ordered(chosen, order)]
    return Context("\n\n".join(blocks), chosen)


def user_turn(question: str, context: Context, style: str = "cite") -> str:
    """The user message sent to the model when the KB found excerpts, in a prompt
    ``style`` (see edgekit.bundle.answer_settings.PROMPT_STYLES)."""
    if not context.hits:
        return question
    if style in ("short", "quote", "extract"):
        return f"{context.text}\n\nQuestion: {question}\n{SHORT_INSTRUCTION}"
    return f"{CITE_INSTRUCTION}\n\n{context.text}\n\nQuestion: {question}"
