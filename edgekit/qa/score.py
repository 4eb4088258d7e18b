"""Scoring one answer against a QA item: answer, citations, retrieval, abstention, loops.

"Answer right" finds a reference anywhere in the reply; token F1 compares the reply's
short answer (:func:`short_answer`: the span an `extract`/`quote` reply starts with, else
the whole reply) with the references, so a precise answer scores above a long quote
(``reply_f1`` keeps the whole reply's F1, ``answer_words`` the short answer's length).

Everything here works on plain values (answer text, excerpts as dicts with ``text``,
``source``, ``page``), so `edgekit eval qa` and the serve bench through the openai
client score the same way.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edgekit.runtime.answer.loops import is_degenerate
from edgekit.runtime.answer.support import abstains

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"“", "”", "‘", "’", "，", "。", "：", "；", "？", "！", "、"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def normalize(text: str) -> str:
    """Lower case, no punctuation, no English articles, single spaces (SQuAD's rule);
    Unicode-normalised (NFKC) so full-width forms match; citation marks like [2] dropped."""
    text = _CITE.sub(" ", unicodedata.normalize("NFKC", text)).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def tokens(text: str) -> list[str]:
    """Word tokens of normalised text; CJK characters count one token each."""
    out: list[str] = []
    for word in normalize(text).split():
        if _CJK.search(word):
            out.extend(ch for ch in word if not ch.isspace())
        else:
            out.append(word)
    return out


def contains(answer: str, references: Iterable[str]) -> bool:
    """Some reference, normalised, occurs in the normalised answer (word-aligned). A
    reference with Chinese characters is compared without spaces: the answer span's bold
    marks ("对应的**手册页**") become spaces in the normalised text, and Chinese text has no
    word spaces to keep."""
    padded = f" {normalize(answer)} "
    unspaced = "".join(padded.split())
    for ref in references:
        r = normalize(ref)
        if r and (f" {r} " in padded or (_CJK.search(r) and "".join(r.split()) in unspaced)):
            return True
    return False


def short_answer(reply: str) -> str:
    """The short answer part of a reply: the answer span an `extract`/`quote` reply starts
    with (its first paragraph, when a quoted sentence follows it), else the whole reply;
    citation marks and markdown bold marks dropped either way."""
    head, sep, rest = reply.strip().partition("\n\n")
    text = head if sep and rest.lstrip().startswith(('"', "“")) else reply
    return " ".join(_CITE.sub(" ", text.replace("**", "")).split())


def answer_words(reply: str) -> int:
    """Length of a reply's short answer in tokens (words; a CJK character counts one)."""
    return len(tokens(short_answer(reply)))


def token_f1(answer: str, references: Iterable[str]) -> float:
    """The best token F1 of the answer against any reference."""
    pred = tokens(answer)
    best = 0.0
    for ref in references:
        gold = tokens(ref)
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            p, r = common / len(pred), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def abstained(answer: str) -> bool:
    """The answer says it does not know / the documents do not say."""
    return abstains(answer)


def cited_numbers(answer: str) -> set[int]:
    """Excerpt numbers cited inline: [1], [2, 3]."""
    return {int(n) for group in _CITE.findall(answer) for n in re.split(r"[,;]\s*", group)}


def holds_answer(excerpt: Mapping[str, Any], item: Any) -> bool:
    """The excerpt comes from the item's source (and page, when given) and contains one of
    its reference answers."""
    if item.source and str(excerpt.get("source")) != item.source:
        return False
    if item.page and excerpt.get("page") not in (None, item.page):
        return False
    return contains(str(excerpt.get("text", "")), item.answers)


def gold_rank(excerpts: Sequence[Mapping[str, Any]], item: Any) -> int | None:
    """1-based rank of the first excerpt holding the answer, None when none does."""
    for n, ex in enumerate(excerpts, start=1):
        if holds_answer(ex, item):
            return n
    return None


def score_answer(
    item: Any,
    answer: str,
    cited: Sequence[Mapping[str, Any]],
    retrieved: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Per-item scores. ``cited``: the excerpts given to the model and returned as the
    answer's citations ([n] is cited[n-1]); ``retrieved``: every hit retrieval returned
    (defaults to ``cited``)."""
    retrieved = cited if retrieved is None else retrieved
    out: dict[str, Any] = {
        "answerable": item.answerable,
        "abstained": abstained(answer),
        "degenerate": is_degenerate(answer),
    }
    if not item.answerable:
        return out
    rank = gold_rank(cited, item)
    inline = cited_numbers(answer)
    out |= {
        "correct": contains(answer, item.answers),  # anywhere in the reply
        "token_f1": round(token_f1(short_answer(answer), item.answers), 4),
        "reply_f1": round(token_f1(answer, item.answers), 4),
        "answer_words": answer_words(answer),
        "cited": rank is not None,
        "cited_inline": any(
            0 < n <= len(cited) and holds_answer(cited[n - 1], item) for n in inline
        ),
        "retrieval_rank": gold_rank(retrieved, item),
    }
    return out


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarize(scores: Sequence[Mapping[str, Any]], seconds: Sequence[float]) -> dict[str, Any]:
    """Rates over a list of per-item scores (None where no item applies)."""
    ans = [s for s in scores if s["answerable"]]
    una = [s for s in scores if not s["answerable"]]
    return {
        "items": len(scores),
        "answerable": len(ans),
        "unanswerable": len(una),
        "answer_accuracy": _mean([float(s["correct"]) for s in ans]),
        "token_f1": _mean([s["token_f1"] for s in ans]),
        "reply_f1": _mean([s["reply_f1"] for s in ans if "reply_f1" in s]),
        "answer_words": _mean([s["answer_words"] for s in ans if "answer_words" in s]),
        "citation_accuracy": _mean([float(s["cited"]) for s in ans]),
        "inline_citation_accuracy": _mean([float(s["cited_inline"]) for s in ans]),
        "retrieval_hit": _mean([float(s["retrieval_rank"] is not None) for s in ans]),
        "abstention_rate": _mean([float(s["abstained"]) for s in una]),
        "false_abstention_rate": _mean([float(s["abstained"]) for s in ans]),
        "degenerate_rate": _mean([float(s["degenerate"]) for s in scores]),
        "seconds_per_answer": _mean(list(seconds)),
    }
