"""The answer span: the few words of an evidence sentence that answer the question.

The question's kind says what to look for: ``number`` (how many / much / long / often,
what percentage, 多少 / 几: a number with its unit), ``date`` (when was / did ..., what
year, 什么时候 / 哪年), ``code`` (which command / option / file / function: paths, flags,
identifiers), ``name`` (who, which person or team: capitalised names), ``place`` (where)
or ``words`` (anything else). The candidates: numbers, dates, code, names, quoted
phrases and maximal runs of sentence words not in the question (Chinese: runs of
characters); a candidate made only of the question's own words never counts. Each is
scored by the asked kind's prior plus where it sits against the question's words in the
sentence: content words between it and the nearest of them (and, weighted less, the next
nearest), whether it follows the word right before the question word ("reduce" of "...
meant to reduce what?"; for "What did X <verb>?" the verb), whether it is next to the
words right after the question word ("What space station ..."), and the share of the
question's words before it (the answer mostly follows what the question restates); names
of two or more words, names for "what/which <noun>" questions, and quoted phrases get a
bonus, a lone capitalised word opening the sentence does not count as a name.

Priors and weights were tuned on SQuAD dev articles that the grounded-QA bench never
tests on (bench/answer_span.py: articles 4..9, misses read on 16..21, checked on 10..15):
oracle span token F1 0.463 -> 0.557, 0.459 -> 0.552 and 0.423 -> 0.516 there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgekit.kb import span_patterns as P
from edgekit.kb.segment import STOPWORDS
from edgekit.kb.zh_markers import IDEOGRAPH

KINDS = ("number", "date", "code", "name", "place", "words")

_CJK = re.compile(f"[{IDEOGRAPH}]")
_CJK_PUNCT = P.CJK_PUNCT
_TOKEN = re.compile(rf"[{IDEOGRAPH}]|[^\s{IDEOGRAPH}{_CJK_PUNCT}]+")
_EDGE_OPEN = "\"'“‘([{<`*|"
_EDGE_CLOSE = "\"'”’)]}>,.;:!?`*"
_BREAK = re.compile(rf"[|,;:()\[\]—–\"“”{_CJK_PUNCT}]|\s-\s")

_CONNECT = {"of", "the", "de", "da", "von", "van", "del", "la", "le", "al", "bin", "&", "and"}
_EXTRA_STOP = set(
    "also been being more most such than then very not he she they we you i his her its "
    "our your them him us had one some any many much all both each other only so".split()
)
_GLUE = {"of", "and", "or", "a", "an", "the", "de", "&", "per"}  # stop words a run may hold
_ZH_STOP = set("的了是在和与及或为由对将把被就也都而且并从向以其中之所着过等")

# prior of a candidate's kind given the question's kind (tuned on SQuAD dev articles)
PRIOR: dict[str, dict[str, float]] = {
    "number": {"number": 1.0, "date": 0.3, "words": 0.2},
    "date": {"date": 1.0, "number": 0.4, "words": 0.0},
    "code": {"code": 1.0, "words": 0.2, "name": 0.1},
    "name": {"name": 1.0, "words": 0.2},
    "place": {"name": 1.0, "code": 0.9, "words": 0.2},  # code: a directory in a manual
    "words": {"name": 0.2, "words": 0.3, "number": 0.1, "date": 0.1, "code": 0.35},
}
UNIT_BONUS = 0.3  # a number whose unit fits the question (hours for "how long")
LONE_CHARACTER = 0.2  # a single Chinese character is rarely an answer
DISTANCE_WEIGHT = 0.12  # per word between a candidate and the question's words
DIST2 = 0.05  # the distance counts the second-nearest question word this much (at most 10)
LENGTH_WEIGHT = 0.0  # per word of the candidate beyond the first
CUT_AT_STOP = False  # a run of words ends at a stop word other than of/and/or/a/the
AFTER_ASKED = 0.05  # the candidate follows a word of the question
ANCHOR = 0.2  # it follows the word before the question word ("reduce" of "reduce what?")
NEAR_AFTER = 0.2  # next to a word that follows the question word ("space station" of
# "What space station ...")
LEFT_SHARE = 0.05  # times the share of the question's words before the candidate
QUOTED = 0.2  # a short phrase in quotes
HEAD_NAME = 0.2  # a name, for "what/which <noun>"
NAME_WORDS = 0.2  # a name of two or more words
FIRST_WORD = 0.4  # a lone capitalised word opening the sentence is rarely a name


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


def word_stem(word: str) -> str:
    """A word's light stem (lower case; plural s, -ing, -ed, final e)."""
    w = word.lower().strip(_EDGE_OPEN + _EDGE_CLOSE).replace("’", "'")
    w = w[:-2] if w.endswith("'s") else w
    if w in STOPWORDS or w in _EXTRA_STOP:
        return w
    for suffix in ("ing", "ed"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    else:
        if len(w) > 5 and w.endswith(("sses", "xes", "zes", "ches", "shes")):
            w = w[:-2]
        elif len(w) > 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
    return w[:-1] if len(w) > 4 and w.endswith("e") else w


def _question_words(question: str) -> set[str]:
    out = {word_stem(m.group()) for m in _TOKEN.finditer(question)}
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
        stem = word_stem(sentence[start:end])
        stop = stem in STOPWORDS or stem in _EXTRA_STOP or stem in _ZH_STOP
        broken = bool(_BREAK.search(sentence[prev_end:start]))
        out.append(_Token(start, end, stem, stem in asked, stop, broken))
        prev_end = end
    return out


def _found(sentence: str, kind: str, start: int, end: int) -> tuple[str, int, int] | None:
    while end > start and sentence[end - 1] in " ,.;:":
        end -= 1
    if sentence[start:end].endswith(("'s", "’s")) and end - start > 2:
        end -= 2
    return (kind, start, end) if end > start else None


def _numbers(sentence: str, asked: set[str], zh: bool) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for m in (P.ZH_NUMBER if zh else P.EN_NUMBER).finditer(sentence):
        start, end = m.start(), m.end()
        text = m.group()
        if not text.strip() or (zh and not re.search(r"[\d０-９]", text) and len(text) < 2):
            continue
        if zh and (P.ZH_ARTICLE.fullmatch(text) or P.ZH_NOT_A_COUNT.match(text)):
            continue  # "在一个窗口中", "任何一种": the article "a"; "万一" (in case), "千万"
        if not zh:
            unit = P.UNIT.match(sentence, end)
            word = unit.group(1) if unit else ""  # not a name: "2 Harvard ..."
            if unit and not word.istitle() and word_stem(word) not in asked | STOPWORDS:
                end = unit.end()
        out.append(("number", start, end))
    return out


def _code(sentence: str, zh: bool) -> list[tuple[str, int, int]]:
    """Paths, flags, identifiers, file names, calls; adjacent ones as one (a command and
    its flags). In Chinese text a run of Latin words holding one is a command line."""
    spans = [(m.start(), m.end()) for m in P.CODE.finditer(sentence)]
    if zh:
        runs = [(m.start(), m.end()) for m in P.LATIN_RUN.finditer(sentence)]
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
            if word[0].isupper() or (word[0].isdigit() and j == i + 1):
                j += 1
            elif word.lower() in _CONNECT and j + 1 < len(tokens):
                nxt = sentence[tokens[j + 1].start]
                if not nxt.isupper() or tokens[j + 1].broken:
                    break
                j += 1
            else:
                break
        if not P.MONTH_OR_DAY.match(sentence, tokens[i].start):
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
    found += [("words", m.start(1), m.end(1)) for m in P.QUOTED.finditer(sentence)]
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


def _distance(tokens: list[_Token], first: int, last: int) -> float:
    """Content words between tokens[first..last] and the nearest word of the question (0
    when adjacent or when the sentence has none), plus DIST2 times those to the nearest
    other word of the question (10 at most, and when there is none)."""
    gaps: dict[str, int] = {}
    for i, t in enumerate(tokens):
        if t.asked and not (first <= i <= last):
            lo, hi = (i + 1, first) if i < first else (last + 1, i)
            gap = sum(1 for u in tokens[lo:hi] if not u.stop)
            gaps[t.stem] = min(gap, gaps.get(t.stem, gap))
    got = sorted(gaps.values())
    return (got[0] if got else 0) + DIST2 * min(10, got[1] if len(got) > 1 else 10)


def _neighbour(tokens: list[_Token], i: int, step: int) -> _Token | None:
    """The nearest content token from tokens[i] in direction ``step`` (None at an end)."""
    while 0 <= i < len(tokens):
        if not tokens[i].stop:
            return tokens[i]
        i += step
    return None


@dataclass(frozen=True)
class _Question:
    kind: str
    asked: set[str]
    anchor: str = ""  # the content word before the question word ("reduce" of "reduce what")
    after: frozenset[str] = frozenset()  # the first content words after it
    head: bool = False  # a noun follows the question word ("what sport", "which treaty")


def _parse(question: str) -> _Question:
    """The question's kind and words; where it has a question word: the content word
    right before it (for "What did X <verb>?" the verb, the last one), the first content
    words after it ("space station" of "What space station supported ...", "combustion"
    of "what type of combustion"), and whether a noun follows it ("what sport")."""
    kind, asked = question_kind(question), _question_words(question)
    words = [word_stem(m.group()) for m in _TOKEN.finditer(question)]
    content = [w not in STOPWORDS and w not in _EXTRA_STOP for w in words]
    for i, w in enumerate(words):
        if w not in P.WH_WORDS:
            continue
        before = [v for v, c in zip(words[:i], content) if c]
        rest = words[i + 1 :]
        if len(rest) > 1 and rest[0] in P.TYPE_WORDS and rest[1] == "of":
            rest = rest[2:]
        after = [v for v in rest[:4] if v not in STOPWORDS and v not in _EXTRA_STOP]
        if not before and rest and rest[0] in P.DO_WORDS:
            before = [v for v, c in zip(words, content) if c]
        head = bool(rest) and content[i + 1] and not rest[0].endswith(("ed", "ing"))
        anchor = before[-1] if before else ""
        return _Question(kind, asked, anchor, frozenset(after[:2]), head)
    return _Question(kind, asked)


def _left_share(tokens: list[_Token], first: int, last: int) -> float:
    """Share of the question's words in the sentence (outside tokens[first..last]) that
    come before it: the answer mostly follows what the question restates."""
    found = [i for i, t in enumerate(tokens) if t.asked and not first <= i <= last]
    return sum(i < first for i in found) / len(found) if found else 0.0


def _score(q: _Question, tokens: list[_Token], sentence: str, cand: tuple[str, int, int]) -> float:
    """The candidate's score (the unit bonus of numbers aside): see the module doc."""
    ckind, start, end = cand
    inside = [i for i, t in enumerate(tokens) if t.end > start and t.start < end]
    if not inside:
        return -1e9
    first, last = inside[0], inside[-1]
    left, right = _neighbour(tokens, first - 1, -1), _neighbour(tokens, last + 1, 1)
    near = {left.stem if left else "", right.stem if right else ""}
    lone = end - start == 1 and has_cjk(sentence[start:end])  # one character: no word
    return (
        PRIOR[q.kind].get(ckind, 0.0)
        - LONE_CHARACTER * lone
        - DISTANCE_WEIGHT * _distance(tokens, first, last)
        - LENGTH_WEIGHT * (len(inside) - 1)
        + AFTER_ASKED * bool(left and left.asked and not tokens[first].broken)
        + ANCHOR * bool(left and q.anchor and left.stem == q.anchor)
        + NEAR_AFTER * bool(near & q.after)
        + LEFT_SHARE * _left_share(tokens, first, last)
        + QUOTED * (sentence[start - 1 : start] in '"“' and sentence[end : end + 1] in '"”')
        + NAME_WORDS * (ckind == "name" and len(inside) > 1)
        + HEAD_NAME * (ckind == "name" and q.head)
        - FIRST_WORD * (ckind == "name" and first == last == 0)
    )


def answer_span(question: str, sentence: str) -> Span | None:
    """The best-scored candidate span of ``sentence`` for ``question`` (None when every
    word of the sentence is in the question)."""
    q = _parse(question)
    tokens = _tokens(sentence, q.asked)
    best: Span | None = None
    for cand in candidates(question, sentence):
        ckind, start, end = cand
        fits = ckind == "number" and _unit_fits(question, sentence, start, end)
        score = _score(q, tokens, sentence, cand) + UNIT_BONUS * fits
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
        return word_stem(nxt.group(1)) in _question_words(question)
    return False


def kind_match(question: str, sentence: str) -> float:
    """1.0 when the sentence has a candidate of the kind the question asks for (or the
    question asks for no particular kind), else 0.0."""
    kind = question_kind(question)
    if kind == "words":
        return 1.0
    wanted = ("name", "code") if kind == "place" else (kind,)
    return float(any(c[0] in wanted for c in candidates(question, sentence)))


def mark(sentence: str, span: Span, marker: str = "**") -> str:
    """``sentence`` with the span wrapped in ``marker`` (markdown bold by default)."""
    return sentence[: span.start] + marker + span.text + marker + sentence[span.end :]
