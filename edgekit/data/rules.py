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

from edgekit.errors import ConfigError
from edgekit.kb import zh_markers
from edgekit.kb.loaders import Document
from edgekit.qa.markers import (
    FAQ_HEADING,
    book_title,
    faq_in_text,
    is_question,
    strip_answer_mark,
    zh_term,
)

Pair = tuple[str, str]
Rule = Callable[[Document], list[Pair]]


_DEFINITION = re.compile(r"^(?:- )?(?P<term>[A-Z][\w ()/'-]{1,48}?):\s+(?P<text>\S.{10,})$")


def title_body(doc: Document) -> list[Pair]:
    """The document's title -> its opening text (what comes before the first sub-heading)."""
    intro = [s for s in doc.sections if len(s.heading_path) <= 1]
    if not intro or not doc.title:
        return []
    if zh_markers.is_mainly_cjk(doc.title + intro[0].text):
        return [(f"{book_title(doc.title)}主要包括哪些内容？", intro[0].text)]
    return [(f"What does the {doc.title} document cover?", intro[0].text)]


def _heading_question(title: str, heading: str, parent: str, text: str) -> str:
    """The question about one section: in Chinese when its heading and text mainly are."""
    if not zh_markers.is_mainly_cjk(heading + text):
        topic = heading if parent == title else f"{heading} ({parent})"
        return f"What does the {title} say about {topic}?"
    if zh_markers.is_article(heading):
        return f"{book_title(title)}{heading}是怎么规定的？"
    if parent == title:
        return f"{book_title(title)}中“{heading}”有哪些规定？"
    return f"{book_title(title)}“{parent}”中“{heading}”有哪些规定？"


def heading_section(doc: Document) -> list[Pair]:
    """Each sub-heading -> the text under it, asked in the context of its parents."""
    pairs = []
    for s in doc.sections:
        if len(s.heading_path) < 2 or is_question(s.heading_path[-1]):
            continue
        heading, parent = s.heading_path[-1], s.heading_path[-2]
        pairs.append((_heading_question(doc.title, heading, parent, s.text), s.text))
    return pairs


def faq(doc: Document) -> list[Pair]:
    """FAQ blocks: a heading that is a question ('Q: ...?', '问：...？', '1. ...?') -> the text
    under it, and question lines in the text ('问：…？' then '答：…', 'Q: …? A: …', a numbered
    '…？' line then its paragraph) -> their answers (answer markers '答：'/'A:' dropped)."""
    pairs = []
    for s in doc.sections:
        m = FAQ_HEADING.match(s.heading_path[-1]) if s.heading_path else None
        if m and is_question(s.heading_path[-1]):
            pairs.append((m.group("q").strip(), strip_answer_mark(s.text)))
        pairs.extend(faq_in_text(s.text))
    return pairs


def _zh_definition(line: str) -> Pair | None:
    """'瓦斯：是指……' / '瓦斯是指……' / '瓦斯，指……' -> ('什么是瓦斯？', the line)."""
    found = zh_term(line)
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
