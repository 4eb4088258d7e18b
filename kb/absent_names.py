"""Names a question asks about that none of the retrieved excerpts mention.

"Which Python module provides bindings for libtasn1?" asked of libtasn1's manual retrieves
the manual's overview, and a sentence sharing "libtasn1" and "provides" was quoted as the
answer; no excerpt says "Python" at all. A name the question holds (a capitalised word
other than its first, an acronym, a token with a digit or with '_' / '.' inside, any Latin
word of a Chinese question: "mandb", "catman") that no excerpt, heading or file name
holds means the documents retrieved are about something else, and the evidence reader
(edgekit.kb.evidence, and the fallback of edgekit.runtime.answer.support) abstains
instead of quoting a sentence that shares the question's other words.

The match is loose, so that only a clear absence counts: case, accents, '_', dashes and
spacing are ignored ("asn1_read_value" is in the heading "asn1 read value", "Kucukdeveci"
in "Kücükdeveci"), a plural's 's' and an ordinal's "th" too, a range's numbers count one
by one ("1620-21"), a word of five letters or more may be one typing slip away ("ARPNET")
or hold all but its last two letters ("Palestine" in "Palestinian"), an acronym may be
spelled out ("European Coal and Steel Community" for ECSC) or have two letters swapped
("TEFU"), and initialisms with dots ("U.S.") are no names. Measured on SQuAD dev articles
4..9 (all 1052 questions, the extract path, bench/answer_span.py --kb --foreign 6) and on
the 1158 questions of articles 10..15 asked of them (none answerable there): with the
check, abstentions on the other articles' questions 467 -> 759; right answers 804 -> 798
(lost: the misspelt "WInston" for Wilson, "French" for France, "Earth", "Bible", a
"1973-1974" the excerpts spell otherwise); on the English real-PDF dev set one more
unanswerable question abstains, no answer is lost.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from edgekit.kb.records import C_SOURCE
from edgekit.kb.zh_markers import IDEOGRAPH

_TOKEN = re.compile(r"[A-Za-z0-9](?:[\w.+/-]*[A-Za-z0-9+])?")
_CJK = re.compile(f"[{IDEOGRAPH}]")
_FOLD = re.compile(r"[\s_\-\u2010-\u2015\u2212]+")
_ORDINAL = re.compile(r"(?<=\d)(?:st|nd|rd|th)$")
_RANGE = re.compile(r"^\d+(?:-\d+)+$")
_CODE = re.compile(r"\w[_.]\w|\d.*\d|[A-Za-z]\d|\d[A-Za-z]")
_NOT_NAMES = {"I", "A", "OK"}
_ACRONYM = re.compile(r"^[A-Z]{2,}s?$")
_INITIALISM = re.compile(r"^(?:[A-Z]\.)+[A-Z]?$")  # U.S, U.K: often spelled out instead
_JOIN = r"(?:\s+(?:and|of|the|for|&)\s+|[\s-]+)"


def fold(text: str) -> str:
    """Lower case without accents, with runs of spaces, '_' and dashes as one space."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return _FOLD.sub(" ", plain.lower())


def question_names(question: str) -> list[str]:
    """The names ``question`` holds (see the module docstring)."""
    chinese = bool(_CJK.search(question))
    out = []
    tokens = (t for m in _TOKEN.finditer(question) for t in re.split(r"\.{2,}", m.group()))
    for i, token in enumerate(tokens):
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
    words = set(re.findall(r"\w+", held))
    out = []
    for name in question_names(question):
        if _ACRONYM.match(name) and _spelled_out(name.rstrip("s"), raw):
            continue
        parts = name.split("-") if _RANGE.match(name) else [name]  # 1628-31: "1628 to 1631"
        if not all(_held(_ORDINAL.sub("", fold(part)), held, words) for part in parts):
            out.append(name)
    return out


def _held(name: str, held: str, words: set[str]) -> bool:
    """Whether the folded ``name`` is in the folded text ``held``: as it is, without a
    plural 's', or (one word of five letters or more) as a word one typing slip away
    ("ARPNET" for ARPANET, "TEFU" for TFEU) or sharing all but its last two letters
    ("Palestine" in "Palestinian", "Designated" in "Designation")."""
    if name in held or (name.endswith("s") and name[:-1] in held):
        return True
    if " " in name or len(name) < 4:
        return False
    stem = name[: max(4, len(name) - 2)]
    return any(w.startswith(stem) or _one_slip(name, w) for w in words)


def _one_slip(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with two neighbours swapped, or (``a`` of five letters or
    more) with one letter added, dropped or changed."""
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
        return (swapped and a[diff[1]] == b[diff[0]]) or (len(diff) == 1 and len(a) >= 5)
    if len(a) < 5 or abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


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
