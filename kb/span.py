"""The answer span: the few words of an evidence sentence that answer the question.

The question's kind says what to look for: ``number`` (how many / much / long / often,
多少 / 几: a number with its unit), ``date`` (when / what year, 什么时候 / 哪年), ``code``
(which command / option / file / function: paths, flags, identifiers), ``name`` (who,
which person or team: capitalised names), ``place`` (where) or ``words`` (anything else).
Every candidate of every kind is scored: the asked kind's prior, closeness to the words
the sentence shares with the question, and a length penalty; a candidate made only of the
question's own words never counts. When nothing of the asked kind is there, the best run
of sentence words not in the question answers (Chinese: runs of characters).

Priors and penalties were tuned on SQuAD dev articles that the grounded-QA bench never
tests on (bench/answer_span.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgekit.kb import span_patterns as P
from edgekit.kb.segment import STOPWORDS
from edgekit.kb.zh_markers import IDEOGRAPH

KINDS = ("number", "date", "code", "name", "place", "words")

_CJK = re.compile(f"[{IDEOGRAPH}]")
_CJK_PUNCT = "，。、；：？！（）《》【】「」『』“”‘’"
_TOKEN = re.compile(rf"[{IDEOGRAPH}]|[^\s{IDEOGRAPH}{_CJK_PUNCT}]+")
_EDGE_OPEN = "\"'“‘([{<`*"
_EDGE_CLOSE = "\"'”’)]}>,.;:!?`*"
_BREAK = re.compile(rf"[,;:()\[\]—–\"“”{_CJK_PUNCT}]|\s-\s")

_CONNECT = {"of", "the", "de", "da", "von", "van", "del", "la", "le", "al", "bin", "&", "and"}
_EXTRA_STOP = set(
    "also been being more most such than then very not he she they we you i his her its "
    "our your them him us had one some any many much all both each other only so".split()
)
_GLUE = {"of", "and", "or", "a", "an", "the", "de", "&", "per"}  # stop words a run may hold
_ZH_STOP = set("的了是在和与及或为由对将把被就也都而且并从向以其中之所着过等")

# prior of a candidate's kind given the question's kind (tuned on SQuAD dev articles)
PRIOR: dict[str, dict[str, float]] = {
    "number": {"number": 1.0, "date": 0.3, "words": 0.0},
    "date": {"date": 1.0, "number": 0.4, "words": 0.0},
    "code": {"code": 1.0, "words": 0.2, "name": 0.1},
    "name": {"name": 1.0, "words": 0.2},
    "place": {"name": 1.0, "words": 0.2},
    "words": {"name": 0.35, "words": 0.3, "number": 0.1, "date": 0.1, "code": 0.35},
}
UNIT_BONUS = 0.3  # a number whose unit fits the question (hours for "how long")
LONE_CHARACTER = 0.2  # a single Chinese character is rarely an answer
DISTANCE_WEIGHT = 0.08  # per word between a candidate and the question's words
LENGTH_WEIGHT = 0.0  # per word of the candidate beyond the first
CUT_AT_STOP = False  # a run of words ends at a stop word other than of/and/or/a/the


@dataclass(frozen=True)
class Span:
    """A piece of the sentence: ``sentence[start:end] == text``."""

    start: int
    end: int
    text: str
    kind: str
    score: float = 0.0


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def question_kind(question: str) -> str:
    """What the question asks for: one of KINDS."""
    for kind, pattern in P.ZH_KINDS if has_cjk(question) else P.EN_KINDS:
        if pattern.search(question):
            return kind
    return "words"


def _stem(word: str) -> str:
    w = word.lower().strip(_EDGE_OPEN + _EDGE_CLOSE).replace("’", "'")
    w = w[:-2] if w.endswith("'s") else w
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def _question_words(question: str) -> set[str]:
    out = {_stem(m.group()) for m in _TOKEN.finditer(question)}
    return {w for w in out if w and w not in STOPWORDS}


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    stem: str
    asked: bool  # the question has this word (or character)
    stop: bool
    broken: bool  # punctuation between the previous token and this one


def _tokens(sentence: str, asked: set[str]) -> list[_Token]:
    out: list[_Token] = []
    prev_end = 0
    for m in _TOKEN.finditer(sentence):
        start, end = m.start(), m.end()
        while start < end and sentence[start] in _EDGE_OPEN:
            start += 1
        while end > start and sentence[end - 1] in _EDGE_CLOSE:
            if sentence[end - 2 : end] == "()":
                break
            end -= 1
        if start == end:
            continue
        stem = _stem(sentence[start:end])
        stop = stem in STOPWORDS or stem in _EXTRA_STOP or stem in _ZH_STOP
        broken = bool(_BREAK.search(sentence[prev_end:start]))
        out.append(_Token(start, end, stem, stem in asked, stop, broken))
        prev_end = end
    return out


def _found(sentence: str, kind: str, start: int, end: int) -> tuple[str, int, int] | None:
    while end > start and sentence[end - 1] in " ,.;:":
        end -= 1
    return (kind, start, end) if end > start else None


def _numbers(sentence: str, asked: set[str], zh: bool) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for m in (P.ZH_NUMBER if zh else P.EN_NUMBER).finditer(sentence):
        start, end = m.start(), m.end()
        text = m.group()
        if not text.strip() or (zh and not re.search(r"[\d０-９]", text) and len(text) < 2):
            continue
        if not zh:
            unit = P.UNIT.match(sentence, end)
            if unit and _stem(unit.group(1)) not in asked | STOPWORDS:
                end = unit.end()
        out.append(("number", start, end))
    return out


_LATIN_RUN = re.compile(rf"[^\s{IDEOGRAPH}{_CJK_PUNCT}]+(?: [^\s{IDEOGRAPH}{_CJK_PUNCT}]+)*")


def _code(sentence: str, zh: bool) -> list[tuple[str, int, int]]:
    """Paths, flags, identifiers, file names, calls; adjacent ones as one (a command and
    its flags). In Chinese text a run of Latin words holding one is a command line."""
    spans = [(m.start(), m.end()) for m in P.CODE.finditer(sentence)]
    if zh:
        runs = [(m.start(), m.end()) for m in _LATIN_RUN.finditer(sentence)]
        return [("code", a, b) for a, b in runs if any(a <= s and e <= b for s, e in spans)]
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and not sentence[merged[-1][1] : start].strip():
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [("code", a, b) for a, b in merged]


def _names(tokens: list[_Token], sentence: str) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(tokens):
        if not sentence[tokens[i].start].isupper() or tokens[i].stop:
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and not tokens[j].broken:
            word = sentence[tokens[j].start : tokens[j].end]
            if word[0].isupper():
                j += 1
            elif word.lower() in _CONNECT and j + 1 < len(tokens):
                nxt = sentence[tokens[j + 1].start]
                if not nxt.isupper() or tokens[j + 1].broken:
                    break
                j += 1
            else:
                break
        out.append(("name", tokens[i].start, tokens[j - 1].end))
        i = j
    return out


def _runs(tokens: list[_Token]) -> list[tuple[str, int, int]]:
    """Maximal runs of tokens the question does not have, cut at punctuation and trimmed
    of stop words at both ends."""
    out: list[tuple[str, int, int]] = []
    run: list[_Token] = []
    for tok in [*tokens, None]:
        cut = CUT_AT_STOP and tok is not None and tok.stop and tok.stem not in _GLUE
        if tok is None or tok.asked or cut or (tok.broken and run):
            while run and run[-1].stop:
                run.pop()
            while run and run[0].stop:
                run.pop(0)
            if run:
                out.append(("words", run[0].start, run[-1].end))
            run = []
        if tok is not None and not tok.asked and not cut:
            run.append(tok)
    return out


def candidates(question: str, sentence: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every candidate answer in ``sentence``."""
    zh = has_cjk(question) or has_cjk(sentence)
    asked = _question_words(question)
    tokens = _tokens(sentence, asked)
    found = _numbers(sentence, asked, zh) + _runs(tokens)
    for m in (P.ZH_DATE if zh else P.DATE).finditer(sentence):
        found.append(("date", m.start(), m.end()))
    found += _code(sentence, zh)
    if not zh:
        found += _names(tokens, sentence)
    out = []
    for kind, start, end in found:
        got = _found(sentence, kind, start, end)
        if got and not _all_asked(tokens, got[1], got[2]):
            out.append(got)
    return out


def _all_asked(tokens: list[_Token], start: int, end: int) -> bool:
    inside = [t for t in tokens if t.start >= start and t.end <= end and not t.stop]
    return not inside or all(t.asked for t in inside)


def _distance(tokens: list[_Token], start: int, end: int) -> int:
    """Words between the span and the nearest word of the question (0 when adjacent or
    when the sentence has none)."""
    index = [i for i, t in enumerate(tokens) if t.end > start and t.start < end]
    hits = [i for i, t in enumerate(tokens) if t.asked]
    if not index or not hits:
        return 0
    first, last = index[0], index[-1]
    return min(max(0, first - h - 1) if h < first else max(0, h - last - 1) for h in hits)


def answer_span(question: str, sentence: str) -> Span | None:
    """The best-scored candidate span of ``sentence`` for ``question`` (None when every
    word of the sentence is in the question)."""
    kind = question_kind(question)
    asked = _question_words(question)
    tokens = _tokens(sentence, asked)
    prior = PRIOR[kind]
    best: Span | None = None
    for ckind, start, end in candidates(question, sentence):
        words = max(1, len([t for t in tokens if t.start >= start and t.end <= end]))
        fits = ckind == "number" and _unit_fits(question, sentence, start, end)
        lone = end - start == 1 and has_cjk(sentence[start:end])  # one character: no word
        score = (
            prior.get(ckind, 0.0)
            + UNIT_BONUS * fits
            - LONE_CHARACTER * lone
            - DISTANCE_WEIGHT * _distance(tokens, start, end)
            - LENGTH_WEIGHT * (words - 1)
        )
        if best is None or score > best.score + 1e-9:
            best = Span(start, end, sentence[start:end], ckind, round(score, 4))
    return best


def _unit_fits(question: str, sentence: str, start: int, end: int) -> bool:
    """The number at ``sentence[start:end]`` has the unit the question asks for: a time
    for "how long", a length for "how far", money or a share for "how much"; for "how
    many X" (and 多少X) the next word is the question's X."""
    for pattern, units in P.DIMENSIONS:
        if pattern.search(question):
            return bool(re.search(units, sentence[start : end + 3], re.IGNORECASE))
    nxt = re.match(r"[\s-]*([^\W\d]+)", sentence[end:])
    if re.search(r"\bhow many\b", question, re.IGNORECASE) and nxt:
        return _stem(nxt.group(1)) in _question_words(question)
    return False


def kind_match(question: str, sentence: str) -> float:
    """1.0 when the sentence has a candidate of the kind the question asks for (or the
    question asks for no particular kind), else 0.0."""
    kind = question_kind(question)
    if kind == "words":
        return 1.0
    wanted = "name" if kind == "place" else kind
    return float(any(c[0] == wanted for c in candidates(question, sentence)))


def mark(sentence: str, span: Span, marker: str = "**") -> str:
    """``sentence`` with the span wrapped in ``marker`` (markdown bold by default)."""
    return sentence[: span.start] + marker + span.text + marker + sentence[span.end :]
