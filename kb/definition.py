"""The answer to "what does <term> mean?" on a glossary line: its definition's first clause.

Handbooks and manuals define their words as glossary lines, a term, a colon, its text
("Shot firer: a person with a current statutory shot firer permit and a Karra Ridge shot
firer authorisation, responsible for charging ..."; "巷道：为采矿在地下开凿的通道，…").
Asked what such a term means, the answer is the definition, not a name inside it: the span
reader (edgekit.kb.span) scores names and numbers and picked "Karra Ridge" there. The
definition's first clause (up to the first comma, semicolon or sentence end) is the answer
span when

- the question asks what the term means or is: "What does shot firer mean?", "What is a
  shot firer?", "What is meant by ...?", "Define ...", "What does X stand for?", "X 是什么
  意思？", "什么是X？", "X 指什么？";
- the line holding the sentence opens with that very term (case, a leading article and a
  list marker aside; a parenthesis of the term may be left out of the question).

Code-like terms (options, variables) are edgekit.kb.term_name's: their whole text is
the answer there.
"""

from __future__ import annotations

import re

from edgekit.kb.chunking import sentence_words

_MEANING_EN = re.compile(
    r"^\s*(?:what\s+(?:does|do)\s+(?:the\s+term\s+)?(?P<a>.+?)\s+(?:mean|stand\s+for)"
    r"|what\s+is\s+meant\s+by\s+(?P<b>.+?)"
    r"|what\s+(?:is|are)\s+(?P<c>.+?)"
    r"|define\s+(?P<d>.+?))\s*[?.]?\s*$",
    re.IGNORECASE,
)
_MEANING_ZH = re.compile(
    r"^\s*(?:什么是(?P<a>.+?)|(?P<b>.+?)(?:是什么意思|指的是什么|指什么|是什么|的意思是什么|"
    r"的定义是什么|表示什么意思))\s*[？?]?\s*$"
)
_LINE = re.compile(r"^\s*(?:[-*•]\s+)?(?P<term>[^:：]{1,60}?)\s*[:：]\s*(?P<text>\S)")
_ARTICLE = re.compile(r"^(?:an?|the)\s+", re.IGNORECASE)
_PAREN = re.compile(r"\s*[(（][^)）]*[)）]")
_CLAUSE_END = re.compile(r"[,;，；。]|\.(?:\s|$)|\s[—–]\s")
MIN_WORDS = 2  # a first clause shorter than this runs on to the next break


def asked_term(question: str) -> str | None:
    """The term a question asks the meaning of, else None."""
    m = _MEANING_EN.match(question) or _MEANING_ZH.match(question)
    if m is None:
        return None
    term = next(t for t in m.groups() if t is not None)
    return _key(term) or None


def _key(term: str) -> str:
    term = " ".join(term.strip(" \"'“”‘’").split()).lower()
    return _ARTICLE.sub("", term)


def definition_span(question: str, sentence: str) -> tuple[int, int] | None:
    """``(start, end)`` in ``sentence`` of the first clause of the definition of the term
    ``question`` asks about, when ``sentence`` opens that term's glossary line; else None."""
    asked = asked_term(question)
    line = _LINE.match(sentence)
    if asked is None or line is None:
        return None
    term = _key(line.group("term"))
    if asked not in (term, _key(_PAREN.sub("", term))):
        return None
    start = line.start("text")
    for brk in _CLAUSE_END.finditer(sentence, start):
        end = brk.start()
        if sentence_words(sentence[start:end]) >= MIN_WORDS:
            break
    else:
        end = len(sentence)
    end = len(sentence[:end].rstrip(" .;:,"))
    return (start, end) if end > start else None
