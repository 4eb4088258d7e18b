"""What the question generators work on: a `Passage` (one document section), the
`Candidate` QA pairs they make of it, and how a question names the passage."""

from __future__ import annotations

import re
from dataclasses import dataclass


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


LIST_MARK = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")
_NUMBERING = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[A-Z]\.|[IVX]+\.)\s+")
_GENERIC = frozenset(
    "overview introduction general scope purpose summary background notes procedure "
    "procedures requirements responsibilities details".split()
)
PRONOUN_START = frozenset(
    "it its this that these those they them their he she his her such here there".split()
)
DEICTIC = re.compile(
    r"\b(?:it|they|this|these|those) (?:is|are|was|were|can|must|may|will)\b"
    r"|\b(?:they|them|he|she|him)\b|(?:^|[,;] )[Ii]t\b"
    r"|\bthe (?:table|figure|list|example) (?:below|above)\b|\bthe following\b"
    r"|\bas (?:shown|described|listed) (?:above|below)\b",
    re.IGNORECASE,
)
ARITHMETIC = re.compile(r"[=×]|\d\s*[+x*/]\s*[\d(]|\)\s*[a-zA-Z]*\s*x\s")


def clean_heading(heading: str) -> str:
    return _NUMBERING.sub("", heading).strip().rstrip(":").strip()


def context(p: Passage) -> str:
    """How a question names the passage: "the Calibration section", "the FAQ document"."""
    path = [clean_heading(h) for h in p.heading_path if not h.rstrip().endswith("?")]
    path = [h for h in path if h]
    if len(path) <= 1:
        return f"the {path[0] if path else p.title} document"
    leaf = re.sub(r"^the ", "", path[-1], flags=re.IGNORECASE)  # "the The glob files"
    if leaf.lower() in _GENERIC:
        return f"the {leaf} section of the {p.title} document"
    return f"the {leaf} section"
