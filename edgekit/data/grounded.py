"""Retrieval-aware training examples: a question, the excerpts the site runtime would show
for it, and the answer as the `extract` style writes it: the short answer span, then the
sentence of one excerpt holding it, quoted with the span in bold, and its citation.

The bundle answers from its knowledge base: the runtime retrieves chunks for the question,
packs them with :func:`edgekit.kb.context.build_context` and asks with
:func:`edgekit.kb.context.user_turn`. These examples put the model in exactly that position
during tuning. The questions and short answers come from the QA rules
(:mod:`edgekit.qa.questions`); retrieval is BM25 over the same chunks the KB stores (the KB
itself does not exist yet when the data is built). The excerpt holding the answer is always
shown, except in a share of examples where every excerpt holding it is removed and the
answer is the abstention the runtime shows (:func:`edgekit.runtime.answer.support.abstention`:
"The excerpts do not say.", or its Chinese for a Chinese question).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.config import KBSection
from edgekit.config.train import DataSection
from edgekit.kb.chunking import chunk_text
from edgekit.kb.context import Context, build_context, user_turn
from edgekit.kb.evidence import MAX_SPAN_SHARE, Evidence, quoted
from edgekit.kb.loaders import Document
from edgekit.kb.records import HEADING_SEP, Hit
from edgekit.kb.span import Span, has_cjk
from edgekit.kb.store import embed_text
from edgekit.qa.evalset import QAItem, generate_qa
from edgekit.qa.facts import contains_normalized, question_key, split_sentences
from edgekit.runtime.answer.support import NOT_IN_EXCERPTS as NOT_IN_EXCERPTS  # re-exported
from edgekit.runtime.answer.support import abstention

RULE = "grounded"
DOCS_PREFIX = "docs/"  # how the bundle's KB names its sources (edgekit.kb.ingest)
# the KB config's defaults (its top_k and context_tokens are AnswerSettings')
_KB = KBSection()
CHUNK_TOKENS, OVERLAP_TOKENS = _KB.chunk_tokens, _KB.overlap_tokens
TOP_K, CONTEXT_TOKENS = _KB.top_k, _KB.context_tokens
MAX_ANSWER_WORDS = 60
_POOL = 12  # hits looked at when the excerpts holding the answer are taken out
# fitting a training sequence: seq_tokens is within 17% of SmolLM2's count on the
# mine-safety chunks (1.3 per word is up to 59% under on number-heavy text); the chat
# template adds about 5 tokens per message
_TOKEN_MARGIN, _TEMPLATE_TOKENS = 1.1, 16
_PIECE = re.compile(r"\d|[^\W\d]+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Model tokens of ``text``, estimated as 1.3 per word (no tokenizer at data-build time)."""
    return math.ceil(len(text.split()) * 1.3)


def seq_tokens(text: str) -> int:
    """A closer estimate of model tokens for fitting a training sequence: 1.1 per word,
    digit or punctuation mark (tokenizers split numbers into digits)."""
    return math.ceil(1.1 * len(_PIECE.findall(text)))


@dataclass(frozen=True)
class _Chunk:
    hit: Hit
    section: str  # heading path joined with HEADING_SEP


def chunk_documents(documents: list[Document], docs_root: Path) -> list[_Chunk]:
    """Every document section cut into chunks as the KB cuts them, as retrieval hits."""
    root = Path(docs_root).resolve()
    chunks: list[_Chunk] = []
    for doc in documents:
        source = DOCS_PREFIX + doc.path.resolve().relative_to(root).as_posix()
        for section in doc.sections:
            heading = HEADING_SEP.join(section.heading_path)
            meta = {"source": source, "heading": heading, "page": section.page or -1}
            for span in chunk_text(section.text, count_tokens, CHUNK_TOKENS, OVERLAP_TOKENS):
                text = section.text[span.start : span.end]
                hit = Hit(f"{source}#{len(chunks)}", text, 0.0, meta)
                chunks.append(_Chunk(hit, heading))
    return chunks


def qa_items(documents: list[Document], docs_root: Path, max_items: int, seed: int) -> list[QAItem]:
    """The QA rules' items (:func:`edgekit.qa.evalset.generate_qa`, no teacher) about
    ``documents``, at most ``max_items``."""
    if max_items <= 0 or not documents:
        return []
    root = Path(docs_root).resolve()
    sources = {DOCS_PREFIX + d.path.resolve().relative_to(root).as_posix() for d in documents}
    items = generate_qa(root, max_items=max_items, seed=seed)
    return [i for i in items if i.source in sources]


def _holds(text: str, answers: tuple[str, ...]) -> bool:
    return any(a in text or contains_normalized(text, a) for a in answers)


def _squash(text: str) -> str:
    return " ".join(text.split())


def gold_chunk(item: QAItem, chunks: list[_Chunk]) -> _Chunk | None:
    """The chunk of the item's source holding its answer: in its section and with its
    evidence sentence if there is one, else any chunk of the source with the answer."""
    own = [c for c in chunks if c.hit.source == item.source and _holds(c.hit.text, item.answers)]
    evidence = _squash(item.evidence or "")

    def rank(c: _Chunk) -> tuple[bool, bool]:
        return c.section != item.section, not (evidence and evidence in _squash(c.hit.text))

    return min(own, key=rank) if own else None


def evidence_sentence(item: QAItem, text: str) -> str:
    """The sentence of ``text`` that holds the item's answer (its evidence when it is there)."""
    if item.evidence and _squash(item.evidence) in _squash(text):
        return item.evidence.strip()
    for sentence in split_sentences(text):
        if _holds(sentence, item.answers):
            return sentence.strip()
    return item.answers[0]


def short_answer(item: QAItem, text: str, number: int) -> str:
    """The answer the way the runtime's `extract` style writes one (kb.evidence.quoted):
    the answer span, a blank line, then its evidence sentence quoted with the span in bold
    and the citation ``[n]``, so the tuned model learns to put the short answer first; the
    quoted sentence alone when the span is most of it, the span alone (cited) when the
    sentence is too long or a table row."""
    sentence, answer = evidence_sentence(item, text), " ".join(item.answers[0].split())
    if len(sentence.split()) > MAX_ANSWER_WORDS or " | " in sentence:
        return f"{answer} [{number}]"
    evidence = Evidence(number, " ".join(sentence.split()), 0.0, 1.0)
    if len(answer) >= MAX_SPAN_SHARE * len(evidence.sentence):
        return quoted(evidence)
    # a whole word ("5" is not the 5 of "15"); Chinese words are not set apart
    before, after = ("", "") if has_cjk(answer) else (r"(?<!\w)", r"(?!\w)")
    found = re.search(before + re.escape(answer) + after, evidence.sentence)
    if found is None:  # held only after normalising: the span first, the sentence unmarked
        return quoted(replace(evidence, named=answer))
    span = Span(found.start(), found.end(), answer, "words", 1.0)
    return quoted(replace(evidence, span=span))


@dataclass(frozen=True)
class _Prompt:
    """How the runtime asks, and how much of a training sequence the user turn and the
    answer may take (``room``, in :func:`seq_tokens`; None: no limit)."""

    style: str
    order: str
    room: int | None

    def fits(self, question: str, ctx: Context, answer: str) -> bool:
        text = f"{user_turn(question, ctx, self.style)}\n{answer}"
        return self.room is None or seq_tokens(text) <= self.room


def _context(
    hits: list[Hit], keep: Hit | None, prompt: _Prompt, question: str, answer: str
) -> Context | None:
    """The hits packed as the runtime packs them (its token budget and order); while
    ``keep`` is left out or the example is too long, the weakest other hit goes."""
    hits = list(hits)
    while hits:
        ctx = build_context(hits, count_tokens, CONTEXT_TOKENS, prompt.order)
        shown = keep is None or any(h.id == keep.id for h in ctx.hits)
        if shown and ctx.hits and prompt.fits(question, ctx, answer):
            return ctx
        others = [i for i, h in enumerate(hits) if keep is None or h.id != keep.id]
        if not others:
            return None
        hits.pop(others[-1])
    return None


def _retrieve(
    index: Any, chunks: list[_Chunk], question: str, k: int, rng: random.Random
) -> list[Hit]:
    """The top ``k`` chunks by BM25; when fewer than ``k`` share a word with the question,
    random others fill up (the runtime's hybrid search always returns ``k``)."""
    scores = index.scores(question)
    ranked = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0][:k]
    rest = sorted(set(range(len(chunks))) - set(ranked))
    ranked += rng.sample(rest, min(k - len(ranked), len(rest)))
    return [
        Hit(chunks[i].hit.id, chunks[i].hit.text, float(scores[i]), chunks[i].hit.meta)
        for i in ranked
    ]


def _messages(system: str, user: str, answer: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
    ]


def _example(
    item: QAItem, gold: _Chunk, ranked: list[Hit], unanswerable: bool, prompt: _Prompt
) -> tuple[Context, str] | None:
    """The context and the answer for one item, or None when no excerpt can be shown."""
    if unanswerable:
        hits = [h for h in ranked if not _holds(h.text, item.answers)][:TOP_K]
        # the runtime's own abstention (edgekit.runtime.answer.support), in the question's language
        answer = abstention(item.question)
        ctx = _context(hits, None, prompt, item.question, answer)
        return (ctx, answer) if ctx else None
    hits = ranked[:TOP_K]
    if all(h.id != gold.hit.id for h in hits):
        last = hits[-1].score if hits else 0.0
        hits = hits[: TOP_K - 1] + [Hit(gold.hit.id, gold.hit.text, last, gold.hit.meta)]
    longest = short_answer(item, gold.hit.text, TOP_K)
    ctx = _context(hits, gold.hit, prompt, item.question, longest)
    if ctx is None:
        return None
    number = next(n for n, h in enumerate(ctx.hits, start=1) if h.id == gold.hit.id)
    return ctx, short_answer(item, gold.hit.text, number)


def grounded_examples(
    documents: list[Document],
    docs_root: Path,
    system: str,
    exclude_questions: set[str],
    cfg: DataSection,
    rng: random.Random,
    style: str = "cite",
    order: str = "edges",
    max_seq_tokens: int | None = None,
) -> list[dict[str, Any]]:
    """Chat rows {"messages": [system, user, assistant], "rule": "grounded", "source"}: the
    user turn is the runtime's prompt (excerpts + question, in ``style`` and ``order``),
    the answer :func:`short_answer` from the excerpt holding it, cited as ``[n]``.

    Questions whose :func:`question_key` is in ``exclude_questions`` (the QA eval set) are
    never used. With ``max_seq_tokens`` (the training sequence length) a prompt shows fewer
    excerpts where the runtime's 800 tokens would not fit: the trainer cuts longer
    examples at the end, which would cut the answer off. Deterministic for ``rng``'s state."""
    from edgekit.kb.retrieve import BM25Index

    chunks = chunk_documents(documents, docs_root)
    items = qa_items(documents, docs_root, cfg.grounded_max, rng.randrange(2**31))
    usable = [
        (item, gold)
        for item in items
        if item.answerable
        and question_key(item.question) not in exclude_questions
        and (gold := gold_chunk(item, chunks)) is not None
    ]
    if not usable:
        return []
    index = BM25Index([embed_text("", c.section, c.hit.text) for c in chunks])
    n_unanswerable = round(len(usable) * cfg.grounded_unanswerable)
    unanswerable = set(rng.sample(range(len(usable)), n_unanswerable))
    room = None
    if max_seq_tokens is not None:
        room = int((max_seq_tokens - _TEMPLATE_TOKENS) / _TOKEN_MARGIN) - seq_tokens(system)
    prompt = _Prompt(style, order, room)
    rows = []
    for i, (item, gold) in enumerate(usable):
        ranked = _retrieve(index, chunks, item.question, _POOL, rng)
        made = _example(item, gold, ranked, i in unanswerable, prompt)
        if made is None and i in unanswerable:  # nothing left without the answer: answer it
            made = _example(item, gold, ranked, False, prompt)
        if made is None:
            continue
        ctx, answer = made
        user = user_turn(item.question, ctx, style)
        rows.append(
            {
                "messages": _messages(system, user, answer),
                "rule": RULE,
                "source": str(item.source).removeprefix(DOCS_PREFIX),
            }
        )
    return rows
