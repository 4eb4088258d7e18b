"""Names a question asks about that none of the retrieved excerpts mention.

"Which Python module provides bindings for libtasn1?" asked of libtasn1's manual retrieves
the manual's overview, and a sentence sharing "libtasn1" and "provides" was quoted as the
answer; no excerpt says "Python" at all. A name the question holds (a capitalised word
other than its first, an acronym, a token with a digit or with '_' / '.' inside, any Latin
word of a Chinese question: "mandb", "catman") that no excerpt, heading or file name
holds means the documents retrieved are about something else, and the evidence reader
(edgekit.kb.evidence, and the fallback of edgekit.runtime.answer.support) abstains
instead of quoting a sentence that shares the question's other words.

The match is loose, so that only a clear absence counts: case, '_', '-' and spacing are
ignored ("asn1_read_value" is in the heading "asn1 read value"), a plural's 's' too,
an acronym may be spelled out ("European Coal and Steel Community" for ECSC), and
initialisms with dots ("U.S.") are no names. Measured on SQuAD dev articles 4..9 (every
fourth question, 263, the extract path) and on questions of articles 10..15 asked of
them (145, none answerable there): abstentions on the other articles' questions 61 ->
98, right answers 191 -> 188 (lost: the misspelt "WInston", a "Symposium" no retrieved
excerpt mentions, the command module's "CM"); on the English real-PDF dev set one more
unanswerable question abstains, no answer is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from edgekit.kb.records import C_SOURCE
from edgekit.kb.zh_markers import IDEOGRAPH

_TOKEN = re.compile(r"[A-Za-z0-9](?:[\w.+/-]*[A-Za-z0-9+])?")
_CJK = re.compile(f"[{IDEOGRAPH}]")
_FOLD = re.compile(r"[\s_-]+")
_CODE = re.compile(r"\w[_.]\w|\d.*\d|[A-Za-z]\d|\d[A-Za-z]")
_NOT_NAMES = {"I", "A", "OK"}
_ACRONYM = re.compile(r"^[A-Z]{2,}s?$")
_INITIALISM = re.compile(r"^(?:[A-Z]\.)+[A-Z]?$")  # U.S, U.K: often spelled out instead
_JOIN = r"(?:\s+(?:and|of|the|for|&)\s+|[\s-]+)"


def fold(text: str) -> str:
    """Lower case, with runs of spaces, '_' and '-' as one space."""
    return _FOLD.sub(" ", text.lower())


def question_names(question: str) -> list[str]:
    """The names ``question`` holds (see the module docstring)."""
    chinese = bool(_CJK.search(question))
    out = []
    for i, m in enumerate(_TOKEN.finditer(question)):
        token = m.group()
        if token in _NOT_NAMES or len(token) < 2 or _INITIALISM.match(token):
            continue
        capital = i > 0 and token[0].isupper()
        if chinese or _CODE.search(token) or _ACRONYM.match(token) or capital:
            out.append(token)
    return out


def absent_names(question: str, hits: Sequence[Any]) -> list[str]:
    """The names of ``question`` that no hit's text, heading or file name holds."""
    raw = " ".join(_hit_texts(hits))
    held = fold(raw)
    out = []
    for name in question_names(question):
        folded = fold(name)
        if folded in held or (folded.endswith("s") and folded[:-1] in held):
            continue
        if _ACRONYM.match(name) and _spelled_out(name.rstrip("s"), raw):
            continue
        out.append(name)
    return out


def _spelled_out(acronym: str, text: str) -> bool:
    """Whether ``text`` holds words whose initials spell ``acronym`` ("European Coal and
    Steel Community" for ECSC, "Distinguished Encoding Rules" for DER)."""
    words = [rf"{re.escape(c)}\w*" for c in acronym]
    return re.search(r"\b" + _JOIN.join(words) + r"\b", text, re.IGNORECASE) is not None


def _hit_texts(hits: Sequence[Any]) -> Iterable[str]:
    for hit in hits:
        yield str(getattr(hit, "text", ""))
        yield str(getattr(hit, "heading", "") or "")
        yield str(getattr(hit, "meta", {}).get(C_SOURCE, ""))
