"""The fallback sentence: when no sentence of the excerpts matches a question well enough
for the `extract` style (edgekit.kb.evidence.best_sentence), the one that shares some of its
words, holds an answer of the kind asked and is close to it in meaning; else none, and the
answer path abstains. The support check (edgekit.runtime.answer.support) shows it in place
of a generated answer the excerpts do not hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from edgekit.kb.absent_names import absent_names
from edgekit.kb.evidence import (
    RANK_PENALTY,
    Evidence,
    content_words,
    quotable_sentences,
    section_title,
    similarities,
    title_words,
)
from edgekit.kb.span import kind_match

FALLBACK_SHARE = 0.2  # share of the question's content words a fallback sentence holds
# cosine of the embedder's question and fallback-sentence vectors below which the fallback
# abstains (chosen on SQuAD dev articles 4..9: see fallback_evidence)
FALLBACK_SIMILARITY = 0.4


def fallback_evidence(question: str, hits: Sequence[Any], embedder: Any = None) -> Evidence | None:
    """The excerpts' sentence that best answers ``question`` among those sharing at least
    :data:`FALLBACK_SHARE` of its content words (one at least) with it and holding an
    answer of the kind asked (a number for "how many", a date for "when": kb.span): the
    `extract` style's scoring (edgekit.kb.evidence.best_sentence) with a lower bar. None when no
    sentence qualifies (on the real PDFs, "How many days is the warranty on the device?"
    was answered with a licence's "Warranty Disclaimers" sentence, which holds no number),
    when the question names something no excerpt mentions (edgekit.kb.absent_names), or when the
    sentence's meaning is far from the question's (embedding cosine under
    :data:`FALLBACK_SIMILARITY`). That last bar was chosen on SQuAD dev articles 4..9 (1052
    questions) and the 1158 questions of articles 10..15 asked of them, none answerable
    there: the fallback's quotes were right for 37 dev questions and quoted 310 of the
    other articles' questions; at 0.4 it keeps 34 right and quotes 53 (whole extract path:
    abstentions on the other articles' questions 759 -> 1018, right answers 798 -> 795).
    On the real-PDF dev sets it turns the licence's "30 days" sentence for the warranty
    question and a browser option for "which GUI manual-browser plugins?" into abstentions."""
    q = content_words(question)
    if not q or absent_names(question, hits):
        return None
    need = max(1, math.ceil(FALLBACK_SHARE * len(q)))
    found: list[tuple[int, str, float]] = []
    for n, hit in enumerate(hits, start=1):
        title = title_words(section_title(hit), question)
        for text, _ in quotable_sentences(hit.text):
            own = q & content_words(text)
            if len(own) >= need and kind_match(question, text):
                found.append((n, text, len(own | (q & title)) / len(q)))
    if not found:
        return None
    similarity = similarities(question, [s for _, s, _ in found], embedder)
    scored = [
        (0.5 * o + 0.5 * s - RANK_PENALTY * (n - 1), -i)
        for i, ((n, _, o), s) in enumerate(zip(found, similarity))
    ]
    score, neg = max(scored)
    if embedder is not None and similarity[-neg] < FALLBACK_SIMILARITY:
        return None
    n, text, overlap = found[-neg]
    return Evidence(n, text, score, overlap)
