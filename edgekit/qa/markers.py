"""Question/answer markers in English and Chinese document text (问：/答：, Q:/A:, numbered
questions, 术语：定义 lines): what the QA set's questions and the training data's rules
both read documents with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgekit.kb import zh_markers

Pair = tuple[str, str]

# Question/answer markers in English and Chinese, with half- or full-width colons.
_Q_MARK = r"(?:问题?|Q(?:uestion)?)"


_A_MARK = r"(?:答案?|回答|A(?:nswer)?)"


_CN_SMALL = "[一二三四五六七八九十]{1,3}"


# a number before a question or list item: 1.  1.2)  1、  (1)  （1）  一、  （一）
_NUMBERING = (
    rf"(?:\d{{1,3}}(?:\.\d{{1,3}})*[.．、)）]|[（(](?:\d{{1,3}}|{_CN_SMALL})[）)]"
    rf"|{_CN_SMALL}、)(?!\d)"
)


FAQ_HEADING = re.compile(
    rf"^(?:Q(?:uestion)?\s*[:.)-]\s*|问题?\s*[:：]\s*|{_NUMBERING}\s*)?(?P<q>.+[?？])\s*$",
    re.IGNORECASE,
)


# A question line in running text: 'Q: ...?' / '问：...' (maybe with its answer on the same
# line: '问：...？答：...'), or a numbered question '1. ...？' (its answer: the next paragraph).
_QA_LINE = re.compile(
    rf"^{_Q_MARK}\s*[:：]\s*(?P<q>.+?)\s*"
    rf"(?:(?<=[?？\s。，])(?:{_A_MARK})\s*[:：]\s*(?P<a>.*))?$",
    re.IGNORECASE,
)


_NUMBERED_Q = re.compile(rf"^{_NUMBERING}\s*(?P<q>.+[?？])$")


ANSWER_MARK = re.compile(rf"^{_A_MARK}\s*[:：]\s*", re.IGNORECASE)


# Chinese definitions: '瓦斯：是指……', '瓦斯是指……', '“瓦斯”，系指……', '瓦斯，指……',
# '本规程所称瓦斯，是指……', after an optional list marker ('- ', '（一）', '1、', '①').
_BULLET = re.compile(r"^[-*•·]\s*")


_LEAD = re.compile(rf"^(?:[-*•·]|{_NUMBERING}|[①-⑳])\s*")


_SO_CALLED = re.compile(r"^本\S{1,6}?所称")


_ZH_TERM = (
    r"[“\"「『]?(?P<term>[^\s：:，,。；;！？!?“”\"「」『』（(][^：:，,。；;！？!?“”\"「」『』（(]{0,15}?)"
    r"\s*(?P<note>[（(][^）)]{1,60}[）)])?[”\"」』]?\s*"
)


_ZH_MEANS = re.compile(
    rf"^{_ZH_TERM}(?:(?:[，,：:]\s*)?(?:是指|系指|指的是)|[，,：:]\s*指)\s*\S.{{3,}}$"
)


_ZH_COLON = re.compile(rf"^{_ZH_TERM}[：:]\s*\S.{{5,}}$")


# what ends a 'Label：...' line that is no definition (注意：, 操作步骤：, 报告内容包括：, ...)
_LABELS = tuple(
    "问 答 问题 回答 答案 注 注意 说明 备注 提示 例如 要求 包括 如下 以下 步骤 措施 内容 "
    "原因 方法 时间 地点 电话 目的 依据 规定".split()
)


# a term that points back ('该设备是指……') names nothing
POINTING = ("这", "那", "其", "此", "该", "它", "上述", "以上", "前款", "本款", "本条")


def is_question(text: str) -> bool:
    return text.rstrip().endswith(("?", "？"))


def book_title(title: str) -> str:
    """A document title as Chinese text cites it: 《煤矿安全规程》."""
    return title if title.startswith("《") else f"《{title}》"


@dataclass(frozen=True)
class _Asked:
    """A question line in running text."""

    question: str
    inline: str | None  # the answer on the same line ('问：…？答：…')
    marked: bool  # 'Q:'/'问：' (answer: everything up to the next question) or numbered


def _asked(line: str) -> _Asked | None:
    text = line.strip()
    marked = _QA_LINE.match(text)
    if marked and marked.group("q"):
        return _Asked(marked.group("q").strip(), marked.group("a"), True)
    numbered = _NUMBERED_Q.match(text)
    return _Asked(numbered.group("q").strip(), None, False) if numbered else None


def strip_answer_mark(text: str) -> str:
    return ANSWER_MARK.sub("", text.strip(), count=1).strip()


def _answer(asked: _Asked, following: list[str]) -> str:
    """A numbered question's answer is the paragraph after it; a marked one's is the text up
    to the next question, and when the question has no '?' it must carry an answer marker."""
    if not asked.marked:
        return "\n".join(following).strip().split("\n\n")[0]
    text = "\n".join(([asked.inline] if asked.inline is not None else []) + following).strip()
    if asked.inline is None and not ANSWER_MARK.match(text) and not is_question(asked.question):
        return ""
    return strip_answer_mark(text)


def faq_in_text(text: str) -> list[Pair]:
    """Question lines in running text ('问：…？' + '答：…', 'Q: …? A: …', '1. …？') -> answers."""
    lines = text.splitlines()
    found = [(i, asked) for i, line in enumerate(lines) if (asked := _asked(line))]
    pairs = []
    for n, (i, asked) in enumerate(found):
        end = found[n + 1][0] if n + 1 < len(found) else len(lines)
        answer = _answer(asked, lines[i + 1 : end])
        if answer:
            pairs.append((asked.question, answer))
    return pairs


def zh_term(line: str) -> tuple[str, str] | None:
    """(term, definition line without its list marker) of a Chinese definition line."""
    lead = _LEAD.match(line)
    body = line[lead.end() :] if lead else line
    if _QA_LINE.match(body) or ANSWER_MARK.match(body):
        return None
    m = _ZH_MEANS.match(_SO_CALLED.sub("", body))
    if m is None and zh_markers.is_mainly_cjk(body) and (not lead or _BULLET.match(line)):
        m = _ZH_COLON.match(body)  # a numbered 'Step: do this' line is no definition
        if m and m.group("term").strip().endswith(_LABELS):
            return None
    if m is None:
        return None
    term = m.group("term").strip()
    if term.startswith(POINTING) or zh_markers.marker_heading(term):
        return None
    return term, body
