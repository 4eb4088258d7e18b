"""Is a generated answer supported by the excerpts it was given, and what replaces it?

A small model answering from excerpts invents names and values, or echoes the excerpt
labels ("The answer is: [2] docs/x.pdf › Setup (p. 5)" three times over). :func:`judge`
reads the answer as a user would: citation marks and echoes of the excerpts' sources are
taken out first, then

- **degenerate**: empty, a loop (:func:`edgekit.runtime.answer.loops.is_degenerate`), a sentence
  said twice, nothing left but citations, source paths and filler, a bare number where
  the question asks for no amount or date (a list number: "1." to "mandb 的 -t 选项做什么？"),
  or English prose with no Chinese character to a Chinese question ("The doc you provided
  is a reference excerpt from a man page.");
- **unsupported**: a number, a name (a capitalised word inside a sentence, an acronym) or
  a code token (``asn1_create_element``, ``--help``, ``libtasn1.so``) that neither the
  excerpts nor the question hold, or under :data:`MIN_SUPPORTED` of its content words
  found there (English words compared by a crude stem; Chinese by character pairs).

An answer that says the excerpts do not hold the answer claims nothing and passes, unless it
carries an unsupported number, name or code token. :func:`replacement` is what is shown
instead: the excerpts' sentence that shares the most with the question (a lower bar than
the `extract` style's, edgekit.kb.fallback), quoted and cited as `extract` quotes, or
:func:`abstention` in the question's language.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgekit.kb.chunking import sentence_words, sentences
from edgekit.kb.evidence import section_title
from edgekit.kb.fallback import fallback_evidence
from edgekit.kb.retrieve import terms
from edgekit.kb.segment import STOPWORDS
from edgekit.kb.span import question_kind
from edgekit.kb.zh_markers import IDEOGRAPH, is_mainly_cjk
from edgekit.runtime.answer.loops import is_degenerate

# the abstention, one text for the grounded training target (edgekit.data.grounded) and
# the runtime; domain-neutral, it is written into every site's training data
NOT_IN_EXCERPTS = "The excerpts do not say."
NOT_IN_EXCERPTS_ZH = "文档中没有相关内容。"
UNSUPPORTED, DEGENERATE = "unsupported", "degenerate"
ENGLISH_PROSE = 4  # English words of an answer to a Chinese question that make it prose
MIN_SUPPORTED = 0.75  # share of an answer's content words the excerpts must hold
# share of an answer's other content words that an excerpt sentence (with its section
# title) must hold beside a number, name or code token of the answer for it to be supported
TOGETHER_SHARE = 0.5
REPEAT_NGRAM = 8  # words in a run that may not be said twice

_CJK = re.compile(f"[{IDEOGRAPH}]")
_CJK_RUN = re.compile(f"[{IDEOGRAPH}]+")
_CITE = re.compile(r"\[\s*\d+(?:\s*[,;–-]\s*\d+)*\s*\]|【\s*\d+\s*】")
_PAGE = re.compile(r"\(\s*(?:p|pp|page|pages)\.?\s*\d+(?:\s*[-–]\s*\d+)?\s*\)", re.I)
_PATH = re.compile(r"\S*(?:\bdocs/|\.(?:pdf|md|markdown|txt|html?|docx)\b)\S*", re.I)
_ECHO = re.compile(r"›[^\n.!?。！？]*")  # " › Heading" left of a source label
_LABEL = re.compile(
    r"\b(?:sources?|references?|excerpts?|citations?)\s*(?:\[\s*\d+\s*\])?\s*:", re.I
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?。！？；;\n]+")
# an answer that says the documents do not hold it (English and Chinese); also how the QA
# eval tells an abstention (edgekit.qa.score)
_ABSTAIN = re.compile(
    r"\b(?:do|does|did)(?: not|n't|n’t) (?:say|mention|contain|state|specify|provide|include"
    r"|cover|tell)|\b(?:i|we) (?:do not|don't|cannot|can't) (?:know|find|answer|tell)"
    r"|\bnot sure\b|\bnot (?:mentioned|stated|specified|provided|given|found|covered|included)"
    r" in\b|\bno (?:information|mention|answer)\b|\bunable to (?:find|answer|determine)\b"
    r"|不知道|无法回答|没有(?:相关|提到|提供|找到|涉及|记载)|未(?:提及|提到|涉及|记载)|找不到"
    r"|(?:资料|文档|文件|手册|材料)(?:里|中)?(?:没有|并未|并没有|未)"
    r"|无法(?:从|在|根据)[^，。]{0,10}?(?:找到|确定|得知|回答)",
    re.I,
)
# words any answer may use without the excerpts holding them: function words beyond the
# retrieval stop list, and the filler of an answer about excerpts
FILLER = frozenset(
    """i me my we us our you your he him his she her they them their it its one ones
    not no yes also all any each every both either other others some such than then so
    very more most much many only own same too just here there about above after again
    before below between during further once out over through under until up down off
    while because nor been being had having am is are was were be get got gets make made
    answer answers answered question questions excerpt excerpts document documents text
    source sources reference references according based says say said state states stated
    mention mentions mentioned provide provides provided given information following see
    cite cited citation note shown show shows describe describes described above below
    know known sure find found tell contain contains include includes""".split()
)
_FUNCTION_CHARS = frozenset(
    "的了是在和与及或等也都就还又并而且则即如若要会能可应这那个为被把将对于中上下有没不"
    "我你他她它们吗呢吧啊"
)


def abstains(text: str) -> bool:
    """The text says it does not know, or that the documents do not say."""
    return _ABSTAIN.search(text) is not None


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None: supported; UNSUPPORTED or DEGENERATE
    missing: tuple[str, ...] = ()  # what the excerpts do not hold
    share: float = 1.0  # share of the content words the excerpts hold

    @property
    def supported(self) -> bool:
        return self.reason is None


def is_chinese(text: str) -> bool:
    """Mostly Chinese: more ideographs than Latin-script words."""
    return len(_CJK.findall(text)) > len(_WORD.findall(_CJK.sub(" ", text)))


def abstention(question: str) -> str:
    """ "The excerpts do not say." in the question's language."""
    return NOT_IN_EXCERPTS_ZH if is_chinese(question) else NOT_IN_EXCERPTS


def strip_references(text: str, hits: Sequence[Any] = ()) -> str:
    """``text`` without citation marks, echoes of the excerpts' labels (source, heading,
    page) and "Sources:"-style labels: what is left is what the answer claims."""
    for hit in hits:
        for label in (_call(hit, "citation"), getattr(hit, "heading", "")):
            if label and len(label) > 3:
                text = text.replace(label, " ")
    for pattern in (_CITE, _PAGE, _PATH, _ECHO, _LABEL):
        text = pattern.sub(" ", text)
    return " ".join(text.split())


def _call(obj: Any, name: str) -> str:
    fn = getattr(obj, name, None)
    return str(fn()) if callable(fn) else ""


def stem(word: str) -> str:
    """A crude English stem: enough that 'creates', 'created' and 'create' meet."""
    w = word.lower().replace("’", "'")
    if len(w) > 4 and w.endswith(("ies", "ied")):
        return w[:-3] + "y"
    for suffix in ("ing", "ed", "es", "ly", "s", "e"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            return w[: -len(suffix)]
    return w


def _number(text: str) -> str:
    return text.replace(",", "").rstrip(".:")


def _code_tokens(text: str) -> list[str]:
    """Tokens that look like code: identifiers with _ / :: or (), flags, dotted names."""
    out = []
    for raw in text.split():
        tok = raw.strip("\"'`“”‘’,;:!?()[]{}<>").rstrip(".")
        if re.search(r"[A-Za-z]", tok) and (
            re.search(r"[_/]|::|\(\)$|^--?[A-Za-z]|[A-Za-z0-9]\.[A-Za-z]", tok)
        ):
            out.append(tok)
    return out


def _names(text: str) -> list[str]:
    """Capitalised words inside a sentence and acronyms (not a sentence's first word)."""
    out = []
    for part in _SENTENCE_END.split(text):
        words = _WORD.findall(part)
        for i, w in enumerate(words):
            if (i > 0 and w[:1].isupper() and w != "I") or (len(w) > 1 and w.isupper()):
                out.append(w)
    return out


def _bigrams(text: str) -> list[str]:
    grams = []
    for run in _CJK_RUN.findall(text):
        pairs = [run[i : i + 2] for i in range(len(run) - 1)] or [run]
        grams += [g for g in pairs if not set(g) & _FUNCTION_CHARS]
    return grams


@dataclass(frozen=True)
class Vocabulary:
    """What the excerpts (and the question) hold, in the forms :func:`judge` compares."""

    text: str  # lower-cased, whitespace collapsed
    stems: frozenset[str]
    numbers: frozenset[str]
    bigrams: frozenset[str]

    @classmethod
    def of(cls, texts: Sequence[str]) -> Vocabulary:
        joined = " ".join(" ".join(texts).split())
        numbers = {_number(n) for n in _NUMBER.findall(joined)}
        numbers |= set(re.findall(r"\d+", joined))
        return cls(
            joined.lower(),
            frozenset(stem(w) for w in _WORD.findall(_CJK.sub(" ", joined))),
            frozenset(numbers),
            frozenset(run[i : i + 2] for run in _CJK_RUN.findall(joined) for i in range(len(run))),
        )


def repeats_itself(text: str, ngram: int = REPEAT_NGRAM) -> bool:
    """A sentence or line of three words or more said twice, or a run of ``ngram`` words
    said twice ("X is a tool that parses data. It is a tool that parses data.")."""
    plain = _CITE.sub(" ", text).lower()
    parts = [" ".join(p.split()) for p in _SENTENCE_END.split(plain)]
    if any(n >= 2 for p, n in Counter(parts).items() if sentence_words(p) >= 3):
        return True
    words = re.findall(r"\w+", plain)
    runs = Counter(tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1))
    return any(n >= 2 for n in runs.values())


def judge(answer: str, hits: Sequence[Any], question: str = "") -> Verdict:
    """Whether ``answer`` is supported by the excerpts ``hits``. Words of the question are
    neither support nor claims (restating the question proves nothing)."""
    if not answer.strip() or is_degenerate(answer) or repeats_itself(answer):
        return Verdict(DEGENERATE)
    body = strip_references(answer, hits)
    if _wrong_language(body, question) or _bare_number(body, question):
        return Verdict(DEGENERATE)
    vocab = Vocabulary.of([str(h.text) for h in hits] + [section_title(h) for h in hits])
    asked = Vocabulary.of([question])
    strict = _strict_units(body, vocab, asked)
    if any(ok for _, ok in strict):  # each value must stand where the answer says it does
        places = _sentence_vocabularies(hits)
        words = {stem(w) for w in _WORD.findall(_CJK.sub(" ", body)) if _content(w)}
        strict = [(u, ok and _said_together(u, words, places)) for u, ok in strict]
    missing = [u for u, ok in strict if not ok]
    if abstains(body):
        return Verdict(UNSUPPORTED, tuple(missing)) if missing else Verdict(None)
    latin = _CJK.sub(" ", body)
    words = [w for w in _WORD.findall(latin) if len(w) > 1 and stem(w) not in asked.stems]
    units = [(w, stem(w) in vocab.stems) for w in words if w.lower() not in STOPWORDS | FILLER]
    units += [(g, g in vocab.bigrams) for g in _bigrams(body) if g not in asked.bigrams]
    if not units and not strict:
        return Verdict(DEGENERATE)  # citations, source paths, filler, the question's words
    if not units and all(_NUMBER.fullmatch(u) for u, _ in strict):
        # a bare number ("The answer is: 1.") must stand in a sentence about the question
        near = _related_numbers(hits, question)
        missing += [u for u, _ in strict if _number(u) not in near and u not in missing]
        strict = [(u, _number(u) in near) for u, _ in strict]
    share = sum(ok for _, ok in units) / len(units) if units else 1.0
    unheld = [u for u, ok in units if not ok]
    # one paraphrased word in a short answer is allowed while half of it is held
    loose = share < MIN_SUPPORTED and not (len(unheld) == 1 and share >= 0.5)
    missing += unheld
    reason = UNSUPPORTED if loose or not all(ok for _, ok in strict) else None
    return Verdict(reason, tuple(dict.fromkeys(missing)), share)


def _wrong_language(body: str, question: str) -> bool:
    """English prose (ENGLISH_PROSE words or more, none of them code) without a Chinese
    character, answering a mostly Chinese question."""
    if _CJK.search(body) or not is_mainly_cjk(question):
        return False
    words = _WORD.findall(body)
    return len(words) >= ENGLISH_PROSE and not _code_tokens(body)


def _bare_number(body: str, question: str) -> bool:
    """Only a number and punctuation ("1.", "2)"), when the question asks for no amount,
    date or code: a list number the model started and never went on with."""
    if not _NUMBER.fullmatch(re.sub(r"[\s.,;:)\]。、）-]+", "", body) or "x"):
        return False
    return question_kind(question) not in ("number", "date", "code")


def _strict_units(body: str, vocab: Vocabulary, asked: Vocabulary) -> list[tuple[str, bool]]:
    """Numbers, code tokens and names that are not the question's own, each with whether
    the excerpts hold it: every one must be held."""
    latin = _CJK.sub(" ", body)
    units = [(n, _number(n) in vocab.numbers) for n in _NUMBER.findall(body)]
    units = [(n, ok) for n, ok in units if _number(n) not in asked.numbers]
    units += [
        (c, c.lower() in vocab.text) for c in _code_tokens(latin) if c.lower() not in asked.text
    ]
    units += [(w, stem(w) in vocab.stems) for w in _names(latin) if stem(w) not in asked.stems]
    return units


def _holds(vocab: Vocabulary, unit: str) -> bool:
    """Whether ``vocab`` holds a strict unit (a number, a code token or a name)."""
    if _NUMBER.fullmatch(unit):
        return _number(unit) in vocab.numbers
    return unit.lower() in vocab.text or stem(unit) in vocab.stems


def _content(word: str) -> bool:
    return len(word) > 1 and word.lower() not in STOPWORDS | FILLER


def _sentence_vocabularies(hits: Sequence[Any]) -> list[Vocabulary]:
    """Each excerpt sentence with its section title, as :func:`judge` compares."""
    out = []
    for hit in hits:
        title = section_title(hit)
        out += [Vocabulary.of([hit.text[s.start : s.end], title]) for s in sentences(hit.text)]
    return out


def _said_together(unit: str, words: set[str], places: Sequence[Vocabulary]) -> bool:
    """Whether one excerpt sentence holds ``unit`` and at least :data:`TOGETHER_SHARE` of
    the answer's other content words (stems): "The night-shift electrician is Fabio
    Fiorina" is not supported by a title page that names Fabio Fiorina as an author, nor
    "The warranty is 30 days" by a licence's "within 30 days"."""
    others = words - {stem(w) for w in _WORD.findall(unit)}
    need = math.ceil(TOGETHER_SHARE * len(others))
    return any(_holds(v, unit) and len(others & v.stems) >= need for v in places)


def _related_numbers(hits: Sequence[Any], question: str) -> set[str]:
    """Numbers of the excerpts' sentences that share a content word with ``question``."""
    q = set(terms(question))
    out: set[str] = set()
    for hit in hits:
        for span in sentences(hit.text):
            text = hit.text[span.start : span.end]
            if q & set(terms(text)):
                out |= {_number(n) for n in _NUMBER.findall(text)}
    return out


def supported_prefix(answer: str, hits: Sequence[Any], question: str = "") -> str:
    """The answer's leading sentences while each says something the excerpts hold (and
    together they stay supported): what is kept of an answer that goes wrong later ("" when
    its first sentence already does)."""
    kept = ""
    for span in sentences(answer):  # an abbreviation's dot ("(p. 12)") ends no sentence
        piece = answer[span.start : span.end]
        longer = answer[: span.end]
        if judge(piece, hits, question).reason or judge(longer, hits, question).reason:
            break
        kept = longer
    return kept.strip()


def replacement(question: str, hits: Sequence[Any], embedder: Any = None, answer: str = "") -> str:
    """What is shown instead of an unsupported or degenerate ``answer``: its supported
    leading sentences (:func:`supported_prefix`), else the fallback sentence quoted and
    cited as the `extract` style quotes, else the abstention."""
    from edgekit.kb.evidence import quoted

    kept = supported_prefix(answer, hits, question) if answer else ""
    if kept:
        return kept
    evidence = fallback_evidence(question, hits, embedder)
    return quoted(evidence) if evidence is not None else abstention(question)
