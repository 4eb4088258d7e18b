"""The evidence sentence: of the sentences in the retrieved excerpts, the one that best
matches the question (shared content words + embedding similarity, best-ranked excerpt
first on ties). The `quote` prompt style starts the answer with it, quoted and cited.

Measured on 140 SQuAD questions over 4 articles (top 4 hybrid hits): the best sentence
holds the answer 80% of the time by this mix, 73% by word overlap alone, 65% by
embedding alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgekit.kb.chunking import sentences
from edgekit.kb.records import HEADING_SEP
from edgekit.kb.retrieve import terms
from edgekit.kb.zh_markers import IDEOGRAPH

_CJK_CHAR = re.compile(f"[{IDEOGRAPH}]")
RANK_PENALTY = 0.02  # per rank of the excerpt a sentence comes from
MIN_OVERLAP = 0.34  # share of the question's content words a quoted sentence must hold


@dataclass(frozen=True)
class Evidence:
    excerpt: int  # 1-based excerpt number ([n]) of the sentence's hit
    sentence: str
    score: float
    overlap: float  # share of the question's content words in the sentence


def sentence_words(text: str) -> int:
    """Length in words: space-separated words, and two Chinese characters count as one
    (Chinese has no spaces; its words are mostly two characters long)."""
    cjk = len(_CJK_CHAR.findall(text))
    return len(_CJK_CHAR.sub(" ", text).split()) + cjk // 2


def section_title(hit: Any) -> str:
    """The last heading of a hit's heading path ("" when it has none)."""
    return str(getattr(hit, "heading", "") or "").split(HEADING_SEP)[-1]


def best_sentence(
    question: str, hits: Sequence[Any], embedder: Any = None, use_headings: bool = True
) -> Evidence | None:
    """The sentence of ``hits`` (in excerpt order: hits[n-1] is [n]) that best answers
    ``question``; None when no sentence shares enough of the question's content words."""
    q = set(terms(question))
    if not q:
        return None
    found: list[tuple[int, str]] = []
    titles: list[set[str]] = []  # content words of each sentence's own section heading
    for n, hit in enumerate(hits, start=1):
        title = set(terms(section_title(hit))) if use_headings else set()
        for span in sentences(hit.text):
            text = " ".join(hit.text[span.start : span.end].split()).strip('"“”')
            if 3 <= sentence_words(text) <= 80:
                found.append((n, text))
                titles.append(title)
    if not found:
        return None
    overlap = [len(q & (set(terms(s)) | t)) / len(q) for (_, s), t in zip(found, titles)]
    similarity = [0.0] * len(found)
    if embedder is not None:
        qv = embedder.embed_queries([question])[0]
        similarity = [float(v @ qv) for v in embedder.embed_passages([s for _, s in found])]
    scored = [
        (0.5 * o + 0.5 * s - RANK_PENALTY * (n - 1), i)
        for i, ((n, _), o, s) in enumerate(zip(found, overlap, similarity))
    ]
    score, i = max(scored, key=lambda t: (t[0], -t[1]))
    if overlap[i] < MIN_OVERLAP:
        return None
    return Evidence(found[i][0], found[i][1], score, overlap[i])


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def quoted(evidence: Evidence) -> str:
    """The evidence as an answer: the sentence in quotes, then its excerpt number."""
    return f'"{evidence.sentence}" [{evidence.excerpt}]'


def quote_grammar(evidence: Evidence) -> str:
    """A llama.cpp grammar whose output starts with the evidence quoted and cited, then
    lets the model add one line of its own."""
    prefix = quoted(evidence) + "\n"
    return f"root ::= {gbnf_literal(prefix)} rest\nrest ::= [^\\n]*\n"
