"""Chinese documents: structure markers that act as headings, and CJK text helpers.

Chinese regulations and manuals mark their structure with words rather than '#':
第一编 / 第一章 / 第一节 / 第一条, 一、 and （一）. :func:`marker_heading` recognises such a
line and ranks it (编/部分 0 < 章 1 < 节 2 < 一、 3 < 条 4 < （一） 5; a smaller rank is a
higher heading). A chapter-like marker is a heading only when the whole line is short and is
not a sentence; an article ('第十二条　煤矿企业应当……') is the heading '第十二条' followed by
its text. Loaders turn ranks into heading levels for plain text, PDF and docx (never for
markdown, whose '#' headings say it all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# CJK Unified Ideographs (+ extension A and compatibility ideographs)
IDEOGRAPH = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # a regex character-class range
# ideographs plus CJK and full-width punctuation (。，、（）：？ and the ideographic space)
_WIDE = IDEOGRAPH + "\u3000-\u303f\uff00-\uffef"
_IDEOGRAPHS = re.compile(f"[{IDEOGRAPH}]")
_LATIN_WORDS = re.compile(r"[A-Za-z]+")
_ENDS_WIDE = re.compile(f"[{_WIDE}]$")
_STARTS_WIDE = re.compile(f"^[{_WIDE}]")
_WIDE_WRAP = re.compile(rf"(?<=[{_WIDE}])[ \t]*\n\s*(?=[{_WIDE}])")

_CN_DIGITS = "零〇一二三四五六七八九十百千两"
_NUMBER = rf"[{_CN_DIGITS}\d０-９]{{1,6}}"
_SMALL_CN = f"[{_CN_DIGITS}]{{1,4}}"

SENTENCE_END = ("。", "！", "？", "；")
"""Full-width punctuation that ends a sentence (or a list item, for '；')."""

MAX_MARKER_HEADING = 25
"""Most characters of a heading known only from its marker (no '#', style or font)."""

ARTICLE_RANK = 4
_TITLED: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(rf"^第{_NUMBER}(?:编|部分)"), 0),
    (re.compile(rf"^第{_NUMBER}章"), 1),
    (re.compile(rf"^第{_NUMBER}节"), 2),
    (re.compile(rf"^{_SMALL_CN}[、．]\s*\S"), 3),
    (re.compile(rf"^[（(]{_SMALL_CN}[）)]\s*\S"), 5),
)
_ARTICLE = re.compile(rf"^(?P<name>第{_NUMBER}条)(?:\s+(?P<rest>\S.*)|\s*)$")
_NOT_A_TITLE = ("。", "，", "；", "：", "！", "？", "、", ".", ",", ";", ":", "!", "?")

# Where a new line of its own starts in Chinese text: an enumerator ((一) 一、 1、 (1) ①)
# or a question/answer marker with a full-width colon (问：, 答：, Q：).
# (English text never matches: "(1)" with ASCII parentheses continues the line as before)
_OWN_LINE = re.compile(
    rf"^\s*(?:（(?:{_SMALL_CN}|\d{{1,3}})）|\({_SMALL_CN}\)|{_SMALL_CN}、|\d{{1,3}}、|[①-⑳]"
    r"|(?:问题?|答案?|回答|Q|A)\s*：)"
)


LEVEL_BASE = 2
"""Heading level of rank 0: marker headings sit under the document title (level 1), never
become it."""


@dataclass(frozen=True)
class Marker:
    """A structure-marker heading: its rank, its name, and the text after an article number."""

    rank: int
    name: str
    rest: str = ""

    @property
    def level(self) -> int:
        """Heading level in a document whose other headings are not known (plain text)."""
        return LEVEL_BASE + self.rank


def is_mainly_cjk(text: str) -> bool:
    """More CJK ideographs than Latin-script words (mixed Chinese/English counts as Chinese
    when the Chinese carries most of it)."""
    return len(_IDEOGRAPHS.findall(text)) > len(_LATIN_WORDS.findall(text))


def has_cjk(text: str) -> bool:
    return bool(_IDEOGRAPHS.search(text))


def joiner(before: str, after: str) -> str:
    """How two wrapped pieces of text join: nothing between two CJK characters (Chinese has
    no spaces between words), else one space."""
    wide = _ENDS_WIDE.search(before.rstrip()) and _STARTS_WIDE.search(after.lstrip())
    return "" if wide else " "


def unwrap(text: str) -> str:
    """``text`` with the line breaks between two CJK characters removed."""
    return _WIDE_WRAP.sub("", text)


def join_wrapped(before: str, after: str) -> str:
    return before.rstrip() + joiner(before, after) + after.lstrip()


def starts_own_line(previous: str, line: str) -> bool:
    """Whether ``line`` starts a new line instead of continuing ``previous``: the previous one
    ended a Chinese sentence, or this one opens with a Chinese enumerator or Q/A marker."""
    return previous.rstrip().endswith(SENTENCE_END) or bool(_OWN_LINE.match(line))


def _is_short_title(text: str) -> bool:
    return len(text) <= MAX_MARKER_HEADING and not text.endswith(_NOT_A_TITLE)


def marker_heading(line: str) -> Marker | None:
    """The structure-marker heading that ``line`` is (or starts, for an article), else None."""
    text = " ".join(line.split())
    article = _ARTICLE.match(text)
    if article:
        return Marker(ARTICLE_RANK, article.group("name"), article.group("rest") or "")
    for pattern, rank in _TITLED:
        if pattern.match(text) and _is_short_title(text):
            return Marker(rank, text)
    return None


def is_article(heading: str) -> bool:
    """Whether ``heading`` is an article number alone ('第十二条')."""
    marker = marker_heading(heading)
    return marker is not None and marker.rank == ARTICLE_RANK and marker.name == heading.strip()


def marker_blocks(text: str) -> list[tuple[Marker | None, str]]:
    """``text`` cut at marker lines: (marker, text under it) pairs; the first has no marker
    when text comes before any. Text without a marker line is returned whole."""
    blocks: list[tuple[Marker | None, list[str]]] = [(None, [])]
    for line in text.splitlines():
        marker = marker_heading(line)
        if marker is None:
            blocks[-1][1].append(line)
        else:
            blocks.append((marker, [marker.rest] if marker.rest else []))
    out = [(m, "\n".join(lines).strip("\n")) for m, lines in blocks]
    return [(m, body) for m, body in out if m is not None or body.strip()]
