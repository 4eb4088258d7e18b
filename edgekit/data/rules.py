"""Rules that turn a parsed document into question/answer pairs.

A rule is a function ``(Document) -> list[tuple[str, str]]``. The built-in ones are named
and switchable in config (`data.rules`); users add their own by dotted path
(`data.custom_rules: ["mypkg.rules:glossary"]`).

The rules read English and Chinese documents alike: question marks and colons may be
full-width, FAQ markers may be 问：/答：, definitions 术语：定义 or 术语是指……. Questions the
rules word themselves are asked in Chinese when the text they ask about is mainly Chinese.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from edgekit.errors import ConfigError
from edgekit.kb import zh_markers
from edgekit.kb.loaders import Document

Pair = tuple[str, str]
Rule = Callable[[Document], list[Pair]]

# Question/answer markers in English and Chinese, with half- or full-width colons.
_Q_MARK = r"(?:问题?|Q(?:uestion)?)"
_A_MARK = r"(?:答案?|回答|A(?:nswer)?)"
_CN_SMALL = "[一二三四五六七八九十]{1,3}"
# a number before a question or list item: 1.  1.2)  1、  (1)  （1）  一、  （一）
_NUMBERING = (
    rf"(?:\d{{1,3}}(?:\.\d{{1,3}})*[.．、)）]|[（(](?:\d{{1,3}}|{_CN_SMALL})[）)]"
    rf"|{_CN_SMALL}、)(?!\d)"
)
_FAQ_HEADING = re.compile(
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
_ANSWER_MARK = re.compile(rf"^{_A_MARK}\s*[:：]\s*", re.IGNORECASE)

_DEFINITION = re.compile(r"^(?:- )?(?P<term>[A-Z][\w ()/'-]{1,48}?):\s+(?P<text>\S.{10,})$")
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
_POINTING = ("这", "那", "其", "此", "该", "它", "上述", "以上", "前款", "本款", "本条")


def _is_question(text: str) -> bool:
    return text.rstrip().endswith(("?", "？"))


def _book(title: str) -> str:
    """A document title as Chinese text cites it: 《煤矿安全规程》."""
    return title if title.startswith("《") else f"《{title}》"


def title_body(doc: Document) -> list[Pair]:
    """The document's title -> its opening text (what comes before the first sub-heading)."""
    intro = [s for s in doc.sections if len(s.heading_path) <= 1]
    if not intro or not doc.title:
        return []
    if zh_markers.is_mainly_cjk(doc.title + intro[0].text):
        return [(f"{_book(doc.title)}主要包括哪些内容？", intro[0].text)]
    return [(f"What does the {doc.title} document cover?", intro[0].text)]


def _heading_question(title: str, heading: str, parent: str, text: str) -> str:
    """The question about one section: in Chinese when its heading and text mainly are."""
    if not zh_markers.is_mainly_cjk(heading + text):
        topic = heading if parent == title else f"{heading} ({parent})"
        return f"What does the {title} say about {topic}?"
    if zh_markers.is_article(heading):
        return f"{_book(title)}{heading}是怎么规定的？"
    if parent == title:
        return f"{_book(title)}中“{heading}”有哪些规定？"
    return f"{_book(title)}“{parent}”中“{heading}”有哪些规定？"


def heading_section(doc: Document) -> list[Pair]:
    """Each sub-heading -> the text under it, asked in the context of its parents."""
    pairs = []
    for s in doc.sections:
        if len(s.heading_path) < 2 or _is_question(s.heading_path[-1]):
            continue
        heading, parent = s.heading_path[-1], s.heading_path[-2]
        pairs.append((_heading_question(doc.title, heading, parent, s.text), s.text))
    return pairs


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


def _strip_answer_mark(text: str) -> str:
    return _ANSWER_MARK.sub("", text.strip(), count=1).strip()


def _answer(asked: _Asked, following: list[str]) -> str:
    """A numbered question's answer is the paragraph after it; a marked one's is the text up
    to the next question, and when the question has no '?' it must carry an answer marker."""
    if not asked.marked:
        return "\n".join(following).strip().split("\n\n")[0]
    text = "\n".join(([asked.inline] if asked.inline is not None else []) + following).strip()
    if asked.inline is None and not _ANSWER_MARK.match(text) and not _is_question(asked.question):
        return ""
    return _strip_answer_mark(text)


def _faq_in_text(text: str) -> list[Pair]:
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


def faq(doc: Document) -> list[Pair]:
    """FAQ blocks: a heading that is a question ('Q: ...?', '问：...？', '1. ...?') -> the text
    under it, and question lines in the text ('问：…？' then '答：…', 'Q: …? A: …', a numbered
    '…？' line then its paragraph) -> their answers (answer markers '答：'/'A:' dropped)."""
    pairs = []
    for s in doc.sections:
        m = _FAQ_HEADING.match(s.heading_path[-1]) if s.heading_path else None
        if m and _is_question(s.heading_path[-1]):
            pairs.append((m.group("q").strip(), _strip_answer_mark(s.text)))
        pairs.extend(_faq_in_text(s.text))
    return pairs


def _zh_term(line: str) -> tuple[str, str] | None:
    """(term, definition line without its list marker) of a Chinese definition line."""
    lead = _LEAD.match(line)
    body = line[lead.end() :] if lead else line
    if _QA_LINE.match(body) or _ANSWER_MARK.match(body):
        return None
    m = _ZH_MEANS.match(_SO_CALLED.sub("", body))
    if m is None and zh_markers.is_mainly_cjk(body) and (not lead or _BULLET.match(line)):
        m = _ZH_COLON.match(body)  # a numbered 'Step: do this' line is no definition
        if m and m.group("term").strip().endswith(_LABELS):
            return None
    if m is None:
        return None
    term = m.group("term").strip()
    if term.startswith(_POINTING) or zh_markers.marker_heading(term):
        return None
    return term, body


def _zh_definition(line: str) -> Pair | None:
    """'瓦斯：是指……' / '瓦斯是指……' / '瓦斯，指……' -> ('什么是瓦斯？', the line)."""
    found = _zh_term(line)
    if found is None:
        return None
    term, body = found
    answer = body.rstrip("；;，, ")
    if not answer.endswith((*zh_markers.SENTENCE_END, ".", "!", "?")):
        answer += "。"
    return f"什么是{term}？", answer


def _definition(line: str) -> Pair | None:
    m = _DEFINITION.match(line)
    if m and len(m.group("term").split()) <= 6:
        term, text = m.group("term").strip(), m.group("text").strip()
        chinese = zh_markers.is_mainly_cjk(line)
        question = f"什么是{term}？" if chinese else f"What is meant by '{term}'?"
        return question, f"{term}: {text}"
    return _zh_definition(line)


def definitions(doc: Document) -> list[Pair]:
    """Definition lines -> a question about the term. 'Term: explanation' (from '**Term**:
    ...') -> "What is meant by 'Term'?"; '术语：定义', '术语是指……', '术语，指……' ->
    '什么是术语？' (so is an English term in a mainly Chinese line)."""
    pairs = []
    for s in doc.sections:
        for line in s.text.splitlines():
            pair = _definition(line.strip())
            if pair:
                pairs.append(pair)
    return pairs


BUILTIN_RULES: dict[str, Rule] = {
    "title_body": title_body,
    "heading_section": heading_section,
    "faq": faq,
    "definitions": definitions,
}


def load_custom_rule(path: str) -> Rule:
    """Import ``package.module:function`` (or ``package.module.function``)."""
    module, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError("data.custom_rules", [f"{path}: cannot import ({exc})"]) from None
    if not callable(fn):
        raise ConfigError("data.custom_rules", [f"{path}: is not callable"])
    return fn


def resolve_rules(names: list[str], custom: list[str]) -> dict[str, Rule]:
    rules = {n: BUILTIN_RULES[n] for n in names}
    for path in custom:
        rules[path] = load_custom_rule(path)
    return rules
