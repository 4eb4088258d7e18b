"""Rules that turn a parsed document into question/answer pairs.

A rule is a function ``(Document) -> list[tuple[str, str]]``. The built-in ones are named
and switchable in config (`data.rules`); users add their own by dotted path
(`data.custom_rules: ["mypkg.rules:glossary"]`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from edgekit.errors import ConfigError
from edgekit.kb.loaders import Document

Pair = tuple[str, str]
Rule = Callable[[Document], list[Pair]]

_FAQ_HEADING = re.compile(r"^(?:Q(?:uestion)?\s*[:.)-]\s*)?(?P<q>.+\?)\s*$", re.IGNORECASE)
_DEFINITION = re.compile(r"^(?:- )?(?P<term>[A-Z][\w ()/'-]{1,48}?):\s+(?P<text>\S.{10,})$")


def _is_question(heading: str) -> bool:
    return heading.rstrip().endswith("?")


def title_body(doc: Document) -> list[Pair]:
    """The document's title -> its opening text (what comes before the first sub-heading)."""
    intro = [s for s in doc.sections if len(s.heading_path) <= 1]
    if not intro or not doc.title:
        return []
    return [(f"What does the {doc.title} document cover?", intro[0].text)]


def heading_section(doc: Document) -> list[Pair]:
    """Each sub-heading -> the text under it, asked in the context of its parents."""
    pairs = []
    for s in doc.sections:
        if len(s.heading_path) < 2 or _is_question(s.heading_path[-1]):
            continue
        heading = s.heading_path[-1]
        parent = s.heading_path[-2]
        topic = heading if parent == doc.title else f"{heading} ({parent})"
        pairs.append((f"What does the {doc.title} say about {topic}?", s.text))
    return pairs


def faq(doc: Document) -> list[Pair]:
    """FAQ blocks: a heading that is a question ('Q: ...?' or '...?') -> its answer."""
    pairs = []
    for s in doc.sections:
        m = _FAQ_HEADING.match(s.heading_path[-1]) if s.heading_path else None
        if m and _is_question(s.heading_path[-1]):
            pairs.append((m.group("q").strip(), s.text))
    return pairs


def definitions(doc: Document) -> list[Pair]:
    """Definition lines 'Term: explanation' (from '**Term**: ...') -> 'What is Term?'."""
    pairs = []
    for s in doc.sections:
        for line in s.text.splitlines():
            m = _DEFINITION.match(line.strip())
            if m and len(m.group("term").split()) <= 6:
                term = m.group("term").strip()
                pairs.append((f"What is meant by '{term}'?", f"{term}: {m.group('text').strip()}"))
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
