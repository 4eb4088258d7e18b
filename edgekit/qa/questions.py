"""Rule-based question generators: one passage (a document section) -> candidate QA pairs
in English (mostly Chinese passages: :mod:`edgekit.qa.questions_zh`).

Every candidate's answers are verbatim spans of its evidence, and its evidence is a verbatim
sentence (or table row) of the passage, so the reference is always where the citation points.

  faq         a heading (or a "Q: ...?" paragraph) that is a question -> the key span of the
              answer: a fact of the asked type ("How long" -> a duration), else a short phrase
  definition  "Term: definition" lines -> "What does term mean?" -> first clause (<= 10 words)
  heading     a sub-heading whose section opens "<heading> is/are ..." -> the predicate; or a
              section of one short sentence -> that sentence
  sentence    a sentence holding a fact span -> "How long ...?" when the grammar is simple,
              else "According to the <section> section, <sentence with the span as 'how many
              hours'/'what percentage'/...>?"; and table cells holding a fact
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgekit.qa.facts import (
    Fact,
    Names,
    common_name,
    contains_normalized,
    find_facts,
    lower_start,
    split_sentences,
    trim_phrase,
    wanted_types,
    wh_phrase,
)


@dataclass(frozen=True)
class Passage:
    """One document section as the knowledge base stores it."""

    source: str
    title: str
    heading_path: tuple[str, ...]
    page: int | None
    text: str
    index: int  # the section's position in its document


@dataclass(frozen=True)
class Candidate:
    question: str
    answers: tuple[str, ...]
    evidence: str
    kind: str


_Q_PREFIX = re.compile(r"^\s*Q(?:uestion)?\s*\d*\s*[:.)-]\s*", re.IGNORECASE)
_A_PREFIX = re.compile(r"^\s*A(?:nswer)?\s*\d*\s*[:.)-]\s*", re.IGNORECASE)
_LIST_MARK = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")
_NUMBERING = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[A-Z]\.|[IVX]+\.)\s+")
_GENERIC = frozenset(
    "overview introduction general scope purpose summary background notes procedure "
    "procedures requirements responsibilities details".split()
)
_PRONOUN_START = frozenset(
    "it its this that these those they them their he she his her such here there".split()
)
_DEICTIC = re.compile(
    r"\b(?:it|they|this|these|those) (?:is|are|was|were|can|must|may|will)\b"
    r"|\b(?:they|them|he|she|him)\b|(?:^|[,;] )[Ii]t\b"
    r"|\bthe (?:table|figure|list|example) (?:below|above)\b|\bthe following\b"
    r"|\bas (?:shown|described|listed) (?:above|below)\b",
    re.IGNORECASE,
)
_ARITHMETIC = re.compile(r"[=×]|\d\s*[+x*/]\s*[\d(]|\)\s*[a-zA-Z]*\s*x\s")


def clean_heading(heading: str) -> str:
    return _NUMBERING.sub("", heading).strip().rstrip(":").strip()


def context(p: Passage) -> str:
    """How a question names the passage: "the Calibration section", "the FAQ document"."""
    path = [clean_heading(h) for h in p.heading_path if not h.rstrip().endswith("?")]
    path = [h for h in path if h]
    if len(path) <= 1:
        return f"the {path[0] if path else p.title} document"
    leaf = path[-1]
    if leaf.lower() in _GENERIC:
        return f"the {leaf} section of the {p.title} document"
    return f"the {leaf} section"


# ---- faq ------------------------------------------------------------------------------------
def _content(text: str) -> set[str]:
    stop = {"the", "a", "an", "of", "in", "on", "for", "to", "and", "or", "my", "i", "is"}
    return {w.rstrip("s") for w in re.findall(r"\w+", text.lower()) if w not in stop}


def _predicate(sentence: str, question: str) -> str | None:
    """For "X is Y." where X is what the question asks about: a short Y."""
    m = re.match(r"^(?P<subj>[^,;:]{2,60}?)\s(?:is|are|means|refers to)\s(?P<pred>.+)$", sentence)
    if not m:
        return None
    subj = _content(m["subj"])
    if not subj or not subj <= _content(question):
        return None
    pred = m["pred"]
    words = pred.split(" ", 2)
    if (
        len(words) == 3
        and words[1] in ("when", "if", "where")
        and _content(words[0]) <= _content(question)
    ):  # "What makes an area Red?" "An area is Red when there is ..."
        pred = words[2]
    return trim_phrase(pred)


def _faq_answer(question: str, answer_text: str) -> Candidate | None:
    sentences = split_sentences(_A_PREFIX.sub("", answer_text, count=1))
    if not sentences:
        return None
    wanted = wanted_types(question)
    for sentence in sentences[:3] if wanted else ():
        facts = [f for f in find_facts(sentence) if f.type in wanted]
        if facts:
            answers = tuple(dict.fromkeys(f.text for f in facts[:2]))
            return Candidate(question, answers, sentence, "faq")
    first = sentences[0]
    phrase = _predicate(first, question) or trim_phrase(first)
    return Candidate(question, (phrase,), first, "faq") if phrase else None


def faq_candidates(p: Passage) -> list[Candidate]:
    """Question headings, and "Q: ...?" paragraphs followed by their answer."""
    out: list[Candidate] = []
    paras = [para for para in p.text.split("\n\n") if para.strip()]
    leaf = p.heading_path[-1] if p.heading_path else ""
    if leaf.rstrip().endswith("?") and paras:
        question = _Q_PREFIX.sub("", leaf).strip()
        if (c := _faq_answer(question, paras[0])) is not None:
            out.append(c)
    for i, para in enumerate(paras):
        first_line = para.split("\n", 1)[0]
        if not _Q_PREFIX.match(first_line) or "?" not in first_line:
            continue
        head, _, rest = first_line.partition("?")
        question = _Q_PREFIX.sub("", head).strip() + "?"
        rest = rest.strip() or (para.split("\n", 1)[1] if "\n" in para else "")
        if not rest and i + 1 < len(paras):
            rest = paras[i + 1]
        if rest and (c := _faq_answer(question, rest)) is not None:
            out.append(c)
    return out


# ---- definitions ----------------------------------------------------------------------------
_TERM_LINE = re.compile(
    r"^(?P<item>[-*•] )?(?P<term>[A-Za-z][^:|]{0,58}?)\s*:\s+(?P<body>\S.{8,})$"
)
_NOT_TERMS = frozenset(
    "note notes example examples warning caution danger important tip tips q a question "
    "answer see source nb remember result results reason time date location phone email "
    "contact tel fax ref reference page version status address website".split()
)
_VERBISH = frozenset(
    "is are was were means include includes including contains shows says reads following "
    "be must should will may can do does".split()
)
_NOT_TERM_START = frozenset(
    "within every each before after at for in on by during until from if when all any no "
    "some most".split()
)
_GLOSSARY = re.compile(r"\b(?:definitions?|glossary|terms|terminology|abbreviations|acronyms)\b")


def definition_candidates(p: Passage, names: Names) -> list[Candidate]:
    out: list[Candidate] = []
    glossary = bool(_GLOSSARY.search(" ".join(p.heading_path[1:]).lower()))
    for line in p.text.split("\n"):
        m = _TERM_LINE.match(line.strip())
        if not m:
            continue
        term, body = m["term"].strip(), m["body"].strip()
        words = term.split()
        if (
            len(words) > 6
            or term.lower() in _NOT_TERMS
            or any(w.lower() in _VERBISH for w in words)
            or re.match(r"(?:step|part|section|table|figure|chapter)\s*\d", term.lower())
            or words[0].lower() in _NOT_TERM_START
            or find_facts(term)
            or body[0].isdigit()
            or (m["item"] and not glossary and body.split()[0].lower() not in ("a", "an", "the"))
        ):
            continue
        sentences = split_sentences(_LIST_MARK.sub("", line.strip()))
        phrase = trim_phrase(split_sentences(body)[0])
        if sentences and phrase and len(phrase.split()) >= 2:
            question = f"What does {common_name(term, names)} mean?"
            out.append(Candidate(question, (phrase,), sentences[0], "definition"))
    return out


# ---- headings -------------------------------------------------------------------------------
_WHERE = frozenset("in at on under near beside inside outside behind above below next".split())


def heading_candidates(p: Passage, names: Names) -> list[Candidate]:
    if len(p.heading_path) < 2 or p.heading_path[-1].rstrip().endswith("?"):
        return []
    leaf = clean_heading(p.heading_path[-1])
    sentences = split_sentences(p.text.split("\n\n", 1)[0])
    if not leaf or len(leaf.split()) > 6 or not sentences:
        return []
    first, name = sentences[0], common_name(leaf, names)
    where = f"according to the {p.title} document"
    core = re.escape(re.sub(r"\s*\([^)]*\)", "", leaf))
    m = re.match(
        rf"^(?:(?P<art>The|A|An)\s+)?{core}(?:\s*\([^)]*\))?\s+(?P<verb>is|are|means|refers to)"
        rf"\s+(?P<pred>.+)$",
        first,
        re.IGNORECASE,
    )
    if m:
        pred = trim_phrase(m["pred"])
        if not pred or m["pred"].startswith("not "):
            return []
        verb = m["verb"].lower()
        art = f"{m['art'].lower()} " if m["art"] else ""
        if verb in ("means", "refers to"):
            question = f"What does {name} {'mean' if verb == 'means' else 'refer to'}, {where}?"
        elif pred.split()[0].lower() in _WHERE:
            question = f"Where {verb} {art}{name}, {where}?"
        else:
            question = f"What {verb} {art}{name}, {where}?"
        return [Candidate(question, (pred,), first, "heading")]
    if len(sentences) == 1 and "\n" not in p.text.strip() and len(first.split()) <= 12:
        question = f"What does the {p.title} document say about {name}?"
        return [Candidate(question, (first.rstrip("."),), first, "heading")]
    return []


# ---- sentences with facts -------------------------------------------------------------------
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
    if m["subj"].split()[0].lower() in _PRONOUN_START:
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
    if not 5 <= len(words) <= 40 or _ARITHMETIC.search(sentence) or _DEICTIC.search(sentence):
        return None
    if words[0].lower().strip('"(') in _PRONOUN_START or not re.match(r"[\"“(]?[A-Z0-9]", sentence):
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
        for sentence in split_sentences(_LIST_MARK.sub("", line.strip())):
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


def _squash(text: str) -> str:
    return " ".join(text.split())


def valid(c: Candidate, p: Passage) -> bool:
    """Answers are short verbatim spans of the evidence, which is verbatim passage text, and
    the question neither gives the answer away nor runs on."""
    q_words = len(c.question.split())
    return (
        c.question.endswith("?")
        and 4 <= q_words <= 50
        and bool(c.answers)
        and _squash(c.evidence) in _squash(p.text)
        and all(
            a.strip()
            and len(a.split()) <= 12
            and a in c.evidence
            and not contains_normalized(c.question, a)
            for a in c.answers
        )
    )


def passage_candidates(p: Passage, names: Names) -> list[Candidate]:
    """Every valid candidate of a passage, in rule order (faq, definition, heading, facts);
    a mostly Chinese passage gets Chinese questions (:mod:`edgekit.qa.questions_zh`)."""
    from edgekit.qa import questions_zh  # it imports this module

    if questions_zh.is_chinese(p):
        return questions_zh.candidates(p)
    found = [
        *faq_candidates(p),
        *definition_candidates(p, names),
        *heading_candidates(p, names),
        *sentence_candidates(p, names),
        *table_candidates(p, names),
    ]
    return [c for c in found if valid(c, p)]
