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

from edgekit.qa import questions_zh
from edgekit.qa.facts import (
    Names,
    common_name,
    contains_normalized,
    find_facts,
    normalize,
    split_sentences,
    trim_phrase,
    wanted_types,
)
from edgekit.qa.passage import LIST_MARK, Candidate, Passage, clean_heading
from edgekit.qa.sentences import sentence_candidates, table_candidates
from edgekit.qa.technical import technical_candidates

_Q_PREFIX = re.compile(r"^\s*Q(?:uestion)?\s*\d*\s*[:.)-]\s*", re.IGNORECASE)
_A_PREFIX = re.compile(r"^\s*A(?:nswer)?\s*\d*\s*[:.)-]\s*", re.IGNORECASE)


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
            or re.match(r"appendix\b", term.lower())
            or words[0].lower() in _NOT_TERM_START
            or find_facts(term)
            or body[0].isdigit()
            or (m["item"] and not glossary and body.split()[0].lower() not in ("a", "an", "the"))
        ):
            continue
        sentences = split_sentences(LIST_MARK.sub("", line.strip()))
        phrase = trim_phrase(split_sentences(body)[0])
        if sentences and phrase and len(phrase.split()) >= 2 and not page_furniture(phrase):
            question = f"What does {common_name(term, names)} mean?"
            out.append(Candidate(question, (phrase,), sentences[0], "definition"))
    return out


_PAGE_REF = re.compile(r"(?:^|\s)\d{1,4}$|^(?:Chapter|Appendix|Section|Part)\s+\w+:")


def page_furniture(text: str) -> bool:
    """A PDF page's running header, footer or page number, not a statement: "2",
    "Chapter 3: Utilities 7", "Copying Information 29 7"."""
    text = text.strip().rstrip(".")
    return bool(_PAGE_REF.search(text)) or len(re.findall(r"[A-Za-z]{2,}", text)) < 2


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
    if (
        len(sentences) == 1
        and "\n" not in p.text.strip()
        and len(first.split()) <= 12
        and not page_furniture(first)
    ):
        question = f"What does the {p.title} document say about {name}?"
        return [Candidate(question, (first.rstrip("."),), first, "heading")]
    return []


# ---- sentences with facts -------------------------------------------------------------------
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
            and normalize(a) != normalize(p.title)  # a PDF's running header
            for a in c.answers
        )
    )


def passage_candidates(p: Passage, names: Names, chinese_document: bool = False) -> list[Candidate]:
    """Every valid candidate of a passage, in rule order (faq, definition, heading, facts);
    a mostly Chinese passage gets Chinese questions (:mod:`edgekit.qa.questions_zh`). In a
    mostly Chinese document, a passage that is not (a command synopsis, a list of links)
    gets no heading question: "What does the man.1 document say about 概述?" is no question
    a worker asks, and its answer is the whole passage."""

    if questions_zh.is_chinese(p):
        return questions_zh.candidates(p)
    found = [
        *faq_candidates(p),
        *definition_candidates(p, names),
        *([] if chinese_document else heading_candidates(p, names)),
        *sentence_candidates(p, names),
        *table_candidates(p, names),
        *technical_candidates(p, names),
    ]
    return [c for c in found if valid(c, p)]
