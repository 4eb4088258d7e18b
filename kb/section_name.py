"""An answer that is the name of the section its sentence describes.

An API manual names each function in a heading and describes it below without naming it
again: "Which function returns a string describing a libtasn1 error code?" is answered by
the section `asn1_strerror`, whose sentence reads "Returns: Pointer to static
zero-terminated string describing error code."; the sentence's own code token is not the
answer. :func:`section_name` gives the heading's name when

- the question asks which function (routine, method, macro, call, command) does
  something ("Which function checks ...", not "What function does X serve?");
- the heading is a name, not a title: each word lower-case or code-like (``asn1 get
  length ber``, ``gpio_set_value``, ``CreateFileW``), at least one code-like or the
  excerpts spelling it with underscores, no title-case word ("Invoking asn1Parser",
  "Library Notes");
- the sentence speaks of the section's subject without naming it: "this function", "the
  function", a leading "Returns", or it opens with the question's own verb ("Which
  function checks ..." / "Check that the version ...").

The name is spelled as the excerpts spell it when they do (a PDF heading loses its
underscores: "asn1 get length ber" is `asn1_get_length_ber` in the signature below it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from edgekit.kb.segment import STOPWORDS

_ASKS = re.compile(
    r"\b(?:which|what)\s+(?:[\w-]+\s+)?(?:function|routine|subroutine|method|macro|call|"
    r"api|command)s?\s+(?!(?:does|do|did|is|are|was|were|has|have|had|can|could|should|"
    r"would|will|must|may|might)\b)([a-z]+)",
    re.IGNORECASE,
)
_ASKS_ZH = re.compile(r"(?:哪个|哪一个|什么)(?:函数|命令|接口|方法)")
_SELF = re.compile(
    r"\b(?:this|the)\s+(?:function|routine|call|macro|method|command)\b|^returns?\b|^返回",
    re.IGNORECASE,
)
_SECTION_NUMBER = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[A-Z]\.\d+(?:\.\d+)*\.?)\s+")
_WORD = re.compile(r"^[A-Za-z0-9_.:()/-]+$")
_CODE_LIKE = re.compile(r"[_\d]|\(\)|::|[a-z][A-Z]|\w\.\w")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.:-]*(?:\(\))?")


def _key(name: str) -> str:
    return " ".join(re.sub(r"[_()]+", " ", name.lower()).split())


def is_name(title: str, texts: Iterable[str] = ()) -> bool:
    """A heading that names a thing (``asn1 strerror``) rather than titles a topic; one of
    plain lower-case words only (``io read block``) when ``texts`` spell it with
    underscores."""
    words = _SECTION_NUMBER.sub("", title.strip()).split()
    if not 1 <= len(words) <= 6:
        return False
    for word in words:
        if not _WORD.match(word) or word.lower() in STOPWORDS:
            return False
        if word[0].isupper() and word[1:].islower():  # a title-case word
            return False
    if any(_CODE_LIKE.search(w) for w in words):
        return True
    return len(words) > 1 and all(w.islower() for w in words) and "_" in spelled(title, texts)


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)]
    return word


def describes_subject(question: str, sentence: str) -> bool:
    """The sentence speaks of its section's subject without naming it."""
    if _SELF.search(sentence.strip()):
        return True
    asked = _ASKS.search(question)
    first = re.match(r"\W*([A-Za-z]+)", sentence)
    return bool(asked and first and _stem(first.group(1)) == _stem(asked.group(1)))


def spelled(title: str, texts: Iterable[str]) -> str:
    """The heading's name as the texts spell it (underscores kept), else as it stands."""
    name = _SECTION_NUMBER.sub("", title.strip())
    key = _key(name)
    for text in texts:
        for m in _IDENTIFIER.finditer(text):
            if _key(m.group()) == key and ("_" in m.group() or m.group() == name):
                return m.group()
    return name


def section_name(
    question: str, sentence: str, title: str, texts: Iterable[str], span_text: str | None
) -> str | None:
    """The name of the sentence's section when it answers ``question`` (see the module
    docstring); None when it does not, or when the span already says it."""
    texts = list(texts)
    if not (_ASKS.search(question) or _ASKS_ZH.search(question)) or not is_name(title, texts):
        return None
    if span_text is not None and _key(span_text) == _key(_SECTION_NUMBER.sub("", title)):
        return None
    if not describes_subject(question, sentence):
        return None
    return spelled(title, texts)
