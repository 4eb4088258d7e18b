"""Sentence and table questions: a sentence (or table cell) holding a fact span -> "How
long ...?" when the grammar is simple, else "According to the <section> section, <sentence
with the span as 'how many hours'/'what percentage'/...>?"."""

from __future__ import annotations

import re

from edgekit.qa.facts import (
    Fact,
    Names,
    common_name,
    find_facts,
    lower_start,
    split_sentences,
    trim_phrase,
    wh_phrase,
)
from edgekit.qa.passage import (
    ARITHMETIC,
    DEICTIC,
    LIST_MARK,
    PRONOUN_START,
    Candidate,
    Passage,
    context,
)

_HOW_LONG = re.compile(
    r"^(?P<subj>[A-Z][^,;:()]{2,60}?) (?P<aux>is|are|must|may|can|should|will|shall) "
    r"(?P<rest>[^,;:]+?) for (?:(?:at least|no more than|not more than|up to|about|around|"
    r"a maximum of|a minimum of|more than|less than) )?$"
)
_LABEL = re.compile(r"^(?P<label>[^:]{1,60}?):\s+(?P<rest>\S.*)$")
_PDF_HEADING_PREFIX = re.compile(
    r"^(?:[A-Z][\w()/&-]*\s+){1,6}(?=(?:The|A|An|Each|Every|All|If|When|Only|No|Never|Always|"
    r"Do|Before|After)\s+[a-z])"
)
_ADJECTIVAL = re.compile(  # "a 250 kW loader", "two 9 kg extinguishers"
    r"\b(?:an?|one|two|three|four|five|six|the|each|every|per)\s$", re.IGNORECASE
)
_LABEL_NOUN = {"percent": "level", "duration": "time", "time": "time", "frequency": "interval"}
_TYPE_RANK = {"code": 1, "phone": 1}


def _how_long(sentence: str, fact: Fact, names: Names) -> str | None:
    """ "<subj> <aux> <rest> for [at least] <duration><tail>." -> "How long <aux> <subj> ...?" """
    if fact.type != "duration":
        return None
    m = _HOW_LONG.match(sentence[: fact.start])
    tail = sentence[fact.end :].strip().rstrip(".!").strip()
    if not m or len(tail.split()) > 6 or "," in tail or len(m["subj"].split()) > 8:
        return None
    if m["subj"].split()[0].lower() in PRONOUN_START:
        return None
    subj = lower_start(m["subj"], names)
    return f"How long {m['aux']} {subj} {m['rest']}{' ' + tail if tail else ''}?"


_TAIL = re.compile(r"[:;]|,? \((?!\d)|, (?:and|but|or|so|which|with|then|including) ")


def _cut_tail(body: str, wh: str, max_words: int = 22) -> str:
    """A long cloze loses what follows the asked-for value from its next clause on: "..., the
    supervisor starts heat management: extra drinking water, ..." ends at "management"."""
    at = body.find(wh)
    if len(body.split()) <= max_words or at < 0:
        return body
    m = _TAIL.search(body, at + len(wh))
    return body[: m.start()].rstrip(" ,") if m else body


def fact_question(sentence: str, ctx: str, names: Names) -> Candidate | None:
    """A question about the first fact of a sentence (codes only when nothing else)."""
    words = sentence.split()
    if not 5 <= len(words) <= 40 or ARITHMETIC.search(sentence) or DEICTIC.search(sentence):
        return None
    if words[0].lower().strip('"(') in PRONOUN_START or not re.match(r"[\"“(]?[A-Z0-9]", sentence):
        return None  # "It ...", or a list fragment ("the fuel bay (carbon monoxide);")
    found = find_facts(sentence)
    facts = [
        f
        for f in found
        if not re.search(r"\d-[a-z]", f.text)  # "a 30-minute SCSR"
        and not _ADJECTIVAL.search(sentence[: f.start])  # "a 250 kW loader"
        and sum(g.type == f.type for g in found) < 3  # "RC-400, RC-600, RC-750 and ..."
    ]
    if not facts or len(found) > 4:
        return None
    fact = min(facts, key=lambda f: (_TYPE_RANK.get(f.type, 0), f.start))
    if sentence.count(fact.text) > 1:
        return None
    label = _LABEL.match(sentence)
    label = label if label and len(label["label"].split()) <= 8 else None
    if label and fact.end <= label.end("label"):  # "1.25 percent: power is isolated ..."
        if fact.start > 0 or fact.end != label.end("label"):
            return None
        rest = re.sub(r"\s*\([^)]*\)", "", label["rest"])
        statement = trim_phrase(split_sentences(rest)[0], max_words=12)
        if not statement:
            return None
        noun = _LABEL_NOUN.get(fact.type, "value")
        question = f'According to {ctx}, at what {noun} does this apply: "{statement}"?'
        return Candidate(question, (fact.text,), sentence, "sentence")
    question = _how_long(sentence, fact, names)
    if question is None:
        body = sentence[: fact.start] + wh_phrase(fact) + sentence[fact.end :]
        body = body.rstrip(" .!;:")
        if label and not re.search(r"\d", label["label"]):  # "Stope firings: nobody on ..."
            body = f"for {common_name(label['label'], names)}, {label['rest']}"
            body = body.replace(fact.text, wh_phrase(fact), 1).rstrip(" .!;:")
        question = f"According to {ctx}, {lower_start(_cut_tail(body, wh_phrase(fact)), names)}?"
    return Candidate(question, (fact.text,), sentence, "sentence")


def sentence_candidates(p: Passage, names: Names) -> list[Candidate]:
    out: list[Candidate] = []
    ctx = context(p)
    for line in p.text.split("\n"):
        if " | " in line:
            continue
        for sentence in split_sentences(LIST_MARK.sub("", line.strip())):
            if p.page is not None:  # PDF text may glue a heading onto the next sentence
                sentence = _PDF_HEADING_PREFIX.sub("", sentence)
            if (c := fact_question(sentence, ctx, names)) is not None:
                out.append(c)
    return out


def table_candidates(p: Passage, names: Names) -> list[Candidate]:
    """Cells of "a | b | c" tables (first row = header) that hold a fact."""
    out: list[Candidate] = []
    where = context(p)
    for para in p.text.split("\n\n"):
        rows = para.split("\n")
        if len(rows) < 2 or not all(" | " in r for r in rows):
            continue
        header = [c.strip() for c in rows[0].split(" | ")]
        if any(h[:1].isdigit() for h in header):
            continue
        for row in rows[1:]:
            cells = [c.strip() for c in row.split(" | ")]
            if len(cells) != len(header) or not cells[0] or find_facts(cells[0]):
                continue
            for name, cell in zip(header[1:], cells[1:]):
                facts = find_facts(cell)
                if not name or not facts or len(cell.split()) > 12:
                    continue
                answer = cell if len(cell.split()) <= 5 else facts[0].text
                question = (
                    f"According to the table in {where}, what is the "
                    f"{common_name(name, names)} for {common_name(cells[0], names)}?"
                )
                out.append(Candidate(question, (answer,), row, "sentence"))
    return out
