"""The evidence sentence: of the sentences in the retrieved excerpts, the one that best
matches the question (shared content words + embedding similarity + whether it holds an
answer of the kind asked, best-ranked excerpt first on ties), and the answer span inside
it (edgekit.kb.span). The `quote` and `extract` prompt styles answer with the span first,
then the sentence quoted with the span marked in bold, then its citation.

Measured on 140 SQuAD questions over 4 articles (top 4 hybrid hits): the best sentence
holds the answer 80% of the time by this mix, 73% by word overlap alone, 65% by
embedding alone. The kind match (a number for "how many", a date for "when", a path or
identifier for "which file") was added for issue 22 (bench/answer_span.py). The shared
words are weighted by how few of the candidate sentences hold each (a word every sentence
of the excerpts holds tells none apart): on SQuAD dev articles 4..9 the extract path's
right answers went 0.742 -> 0.753; the overlap a quote must reach (MIN_OVERLAP) stays a
plain share of the question's words. Words are compared by their light stems ("returns" meets
"return"), and a word the sentences hold themselves is weighted by how many do (a heading's
word held by every sentence under it does not make the word common): SQuAD dev articles
4..9, 1052 questions, right 0.728 -> 0.748, token F1 0.402 -> 0.417.

From the English real-PDF dev questions: a "sentence" over 80 words is cut where prose
starts again after a token without letters (a hex dump the PDF text runs into the sentence
after it: kb.chunking.readable_pieces), and a heading that spells the question's identifier
with spaces ("asn1 delete structure") lends it to every sentence under it. Real-PDF dev
16/16 answerable (was 14/16); SQuAD dev 795 -> 797 of 1052.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from edgekit.kb.absent_names import absent_names, fold
from edgekit.kb.called_name import called_name
from edgekit.kb.chunking import READABLE_WORDS, readable_pieces, sentence_words, sentences
from edgekit.kb.definition import definition_span
from edgekit.kb.records import HEADING_SEP, ROW_SEP
from edgekit.kb.retrieve import terms
from edgekit.kb.section_name import section_name
from edgekit.kb.span import Span, answer_span, kind_match, mark, question_kind, word_stem
from edgekit.kb.term_name import defines_named_term, term_name
from edgekit.kb.typed_name import names_type

RANK_PENALTY = 0.02  # per rank of the excerpt a sentence comes from
MIN_OVERLAP = 0.34  # share of the question's content words a quoted sentence must hold
KIND_WEIGHT = 0.1  # bonus of a sentence holding an answer of the asked kind (tuned on dev)
DEFINES_WEIGHT = 0.3  # bonus of the definition-list line of a term the question asks about
CALLED_WEIGHT = 0.3  # bonus of a sentence naming something ("称为 …") for "叫什么？"
KEY_WEIGHT = 0.1  # bonus of a table row whose key (first cell) the question names
TYPED_WEIGHT = 0.2  # bonus of a sentence naming a thing of the type "which <type>" asks for
MUST_HOLD = ("number", "date")  # question kinds whose sentence must hold such a value
MAX_SPAN_SHARE = 0.8  # a span this much of its sentence is no shorter answer: none shown
# cosine of the embedder's question and sentence vectors below which the best sentence is
# not quoted (chosen on SQuAD dev articles 4..9: see best_sentence)
QUOTE_SIMILARITY = 0.25
_IDENTIFIER = re.compile(r"\w+(?:_\w+)+")


@dataclass(frozen=True)
class Evidence:
    excerpt: int  # 1-based excerpt number ([n]) of the sentence's hit
    sentence: str
    score: float
    overlap: float  # share of the question's content words in the sentence
    span: Span | None = None  # the answer inside the sentence (None: the sentence is it)
    named: str | None = None  # the answer is the name of the sentence's section instead
    named_from: str = "heading"  # or "term": the term of the sentence's definition-list line

    def span_field(self) -> dict[str, Any] | None:
        """The span as an API response shows it (`answer_span`), None without one. An
        answer that is the section's name (edgekit.kb.section_name) is not inside the
        sentence: its start and end are None and ``from`` says "heading"."""
        if self.named is not None:
            return {
                "text": self.named,
                "kind": "code",
                "sentence": self.sentence,
                "start": None,
                "end": None,
                "citation": self.excerpt,
                "from": self.named_from,
            }
        if self.span is None:
            return None
        return {
            "text": self.span.text,
            "kind": self.span.kind,
            "sentence": self.sentence,
            "start": self.span.start,
            "end": self.span.end,
            "citation": self.excerpt,
        }


def _headings(hit: Any) -> list[str]:
    return str(getattr(hit, "heading", "") or "").split(HEADING_SEP)


def section_title(hit: Any) -> str:
    """The last heading of a hit's heading path ("" when it has none)."""
    return _headings(hit)[-1]


def document_title(hit: Any) -> str:
    """The first heading of a hit's heading path: its document's title ("" without)."""
    return _headings(hit)[0]


def content_words(text: str) -> set[str]:
    """Content words of ``text``, stemmed ("returns" meets "return", "deleted" "delete")."""
    return {word_stem(w) for w in terms(text)}


def title_words(title: str, question: str) -> set[str]:
    """Content words of a section ``title``, and the identifiers of ``question`` the title
    spells with spaces for '_' (PDF manuals print "asn1_delete_structure" in a heading as
    "asn1 delete structure"), so every sentence under it holds the function asked about."""
    words = content_words(title)
    spaced = f" {fold(title)} "
    for name in _IDENTIFIER.findall(question):
        if f" {fold(name)} " in spaced:
            words |= content_words(name)
    return words


def row_key_asked(sentence: str, question_terms: set[str]) -> bool:
    """Whether ``sentence`` is a table row whose first cell the question names (the row
    "8 | 系统管理命令" for "第 8 章节是什么？", "16 | …" for "退出状态 16 表示什么？")."""
    if ROW_SEP not in sentence:
        return False
    key = content_words(sentence.split(ROW_SEP, 1)[0])
    return bool(key) and key <= question_terms


def framed_sentences(text: str) -> list[tuple[str, str]]:
    """Each sentence of an excerpt with the text that frames it: a table row (cells joined
    by " | ", kb.loaders) is read with its table's caption (the sentence before the table)
    and header (its first row, when that holds names, not values), as a reader looks up
    "8 | 系统管理命令" under "下表显示了章节号及其包含的手册页类型"; other sentences stand
    alone ("")."""
    out: list[tuple[str, str]] = []
    caption, header = "", ""
    for span in sentences(text):
        sentence = text[span.start : span.end]
        if ROW_SEP not in sentence:
            caption, header = sentence, ""
            out.append((sentence, ""))
            continue
        out.append((sentence, f"{caption} {header}"))
        if not header and not any(c.isdigit() for c in sentence):
            header = sentence  # a first row of names, not of values, heads the table
    return out


def quotable_sentences(text: str) -> list[tuple[str, str]]:
    """The sentences of an excerpt a reader can quote, each with its frame
    (:func:`framed_sentences`): whitespace runs as one space, outer quotes off, 3 to
    READABLE_WORDS words; an over-long one as its readable pieces (kb.chunking)."""
    out = []
    for sentence, frame in framed_sentences(text):
        for piece in readable_pieces(sentence):
            plain = " ".join(piece.split()).strip('"“”')
            if 3 <= sentence_words(plain) <= READABLE_WORDS:
                out.append((plain, frame))
    return out


def best_sentence(
    question: str, hits: Sequence[Any], embedder: Any = None, use_headings: bool = True
) -> Evidence | None:
    """The sentence of ``hits`` (in excerpt order: hits[n-1] is [n]) that best answers
    ``question``; None when no sentence shares enough of the question's content words, or
    when the question names something no excerpt mentions (edgekit.kb.absent_names), or
    when the sentence's meaning is far from the question's (embedding cosine under
    :data:`QUOTE_SIMILARITY`: "What protects the brain?" shares half its words with "The
    main fan protects the crew"). That bar was chosen on SQuAD dev articles 4..9 (1052
    questions) with the 1158 questions of articles 10..15 asked of them: abstentions on
    those 1018 -> 1047, right answers 797 -> 796 (0.3 would lose 6); the real-PDF dev
    answers' sentences are all at 0.34 or more (English and Chinese)."""
    q = content_words(question)
    if not q or absent_names(question, hits):
        return None
    found: list[tuple[int, str]] = []
    titles: list[set[str]] = []  # words of each sentence's heading, document, table frame
    documents = [document_title(hit) for hit in hits]
    several = use_headings and len(set(documents)) > 1
    for n, (hit, document) in enumerate(zip(hits, documents), start=1):
        title = title_words(section_title(hit), question) if use_headings else set()
        if several:  # "man 的退出状态" between the 退出状态 sections of man.1 and apropos.1
            title |= content_words(document)
        for text, frame in quotable_sentences(hit.text):
            found.append((n, text))
            titles.append(title | content_words(frame))
    if not found:
        return None
    own = [q & content_words(s) for _, s in found]
    held = [h | (q & t) for h, t in zip(own, titles)]
    overlap = [len(h) / len(q) for h in held]
    weight = _rarity(held) | _rarity(own)  # a word sentences hold themselves: by their count
    total = sum(weight.values()) or 1.0
    matched = [sum(weight[w] for w in h) / total for h in held]
    similarity = similarities(question, [s for _, s in found], embedder)
    kinds = [kind_match(question, s) for _, s in found]
    bonus = [
        KIND_WEIGHT * k
        + DEFINES_WEIGHT * defines_term(question, s)
        + CALLED_WEIGHT * (called_name(question, s) is not None)
        + KEY_WEIGHT * row_key_asked(s, q)
        + TYPED_WEIGHT * names_type(question, s)
        for (_, s), k in zip(found, kinds)
    ]
    scored = [
        (0.5 * o + 0.5 * s + b - RANK_PENALTY * (n - 1), i)
        for i, ((n, _), o, s, b) in enumerate(zip(found, matched, similarity, bonus))
    ]
    score, i = max(scored, key=lambda t: (t[0], -t[1]))
    if overlap[i] < MIN_OVERLAP and not defines_term(question, found[i][1]):
        return None
    if not kinds[i] and question_kind(question) in MUST_HOLD:
        return None  # "how many ...?" answered by a sentence without a number
    if embedder is not None and similarity[i] < QUOTE_SIMILARITY:
        return None  # shares words with the question, not its meaning
    evidence = Evidence(found[i][0], found[i][1], score, overlap[i])
    hit = hits[evidence.excerpt - 1]
    return with_span(evidence, question, section_title(hit), [h.text for h in hits])


def defines_term(question: str, sentence: str) -> bool:
    """``sentence`` opens the definition-list or glossary line of the term ``question``
    asks about (edgekit.kb.term_name, edgekit.kb.definition)."""
    return defines_named_term(question, sentence) or definition_span(question, sentence) is not None


def similarities(question: str, sentences: Sequence[str], embedder: Any) -> list[float]:
    """Cosine of ``question`` with each sentence by the KB's embedder (0.0 each without)."""
    if embedder is None:
        return [0.0] * len(sentences)
    qv = embedder.embed_queries([question])[0]
    return [float(v @ qv) for v in embedder.embed_passages(list(sentences))]


def _rarity(held: Sequence[set[str]]) -> dict[str, float]:
    """Weight of each question word some candidate sentence holds (``held``: the question
    words of each): log((N + 1) / (n + 0.5)) when n of the N sentences hold it, so a word
    few of them hold tells them apart, and one they all hold hardly counts."""
    counts = Counter(w for h in held for w in h)
    return {w: math.log((len(held) + 1) / (n + 0.5)) for w, n in counts.items()}


def with_span(
    evidence: Evidence, question: str, title: str = "", texts: Sequence[str] = ()
) -> Evidence:
    """``evidence`` with the answer span of ``question`` inside its sentence (none when
    the span would be most of the sentence), or the name of the sentence's section
    ``title`` when that is the answer (edgekit.kb.section_name; ``texts``: the excerpts,
    for the name's spelling), or the term of its definition-list line for "which option
    ...?" (edgekit.kb.term_name), or the name it gives for "what is it called?"
    (edgekit.kb.called_name). The line of the term "what does it do?" names has no
    span: its text is the answer."""
    if defines_named_term(question, evidence.sentence):  # its whole text is the answer
        return replace(evidence, span=None)
    called = called_name(question, evidence.sentence)
    if called is not None:
        text = evidence.sentence[called[0] : called[1]]
        return replace(evidence, span=Span(called[0], called[1], text, "words", 1.0))
    span = _definition(question, evidence.sentence) or answer_span(question, evidence.sentence)
    if span is not None and len(span.text) >= MAX_SPAN_SHARE * len(evidence.sentence):
        span = None
    named = section_name(question, evidence.sentence, title, texts, span and span.text)
    if named is not None:
        return replace(evidence, span=None, named=named)
    term = term_name(question, evidence.sentence, texts)
    if term is None:
        return replace(evidence, span=span)
    at = evidence.sentence.find(term)
    if at < 0:  # the term opens the line, the sentence comes later in it
        return replace(evidence, span=None, named=term, named_from="term")
    return replace(evidence, span=Span(at, at + len(term), term, "code", 1.0))


def _definition(question: str, sentence: str) -> Span | None:
    """The first clause of the glossary line's definition "what does X mean?" asks for."""
    found = definition_span(question, sentence)
    if found is None:
        return None
    return Span(found[0], found[1], sentence[found[0] : found[1]], "words", 1.0)


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def quoted(evidence: Evidence) -> str:
    """The evidence as an answer: the span on a line of its own, a blank line, then the
    sentence in quotes with the span in markdown bold, then its excerpt number::

        30 minutes

        "A self-rescuer lasts **30 minutes** at rest." [1]

    An answer that is the section's name (or the term of the sentence's line) comes first
    the same way, over the sentence unmarked. Without a span: the quoted sentence and its
    excerpt number alone."""
    if evidence.named is not None:
        return f'{evidence.named}\n\n"{evidence.sentence}" [{evidence.excerpt}]'
    if evidence.span is None:
        return f'"{evidence.sentence}" [{evidence.excerpt}]'
    marked = mark(evidence.sentence, evidence.span)
    return f'{evidence.span.text}\n\n"{marked}" [{evidence.excerpt}]'


def quote_grammar(evidence: Evidence) -> str:
    """A llama.cpp grammar whose output starts with the evidence quoted and cited, then
    lets the model add one line of its own."""
    prefix = quoted(evidence) + "\n"
    return f"root ::= {gbnf_literal(prefix)} rest\nrest ::= [^\\n]*\n"
