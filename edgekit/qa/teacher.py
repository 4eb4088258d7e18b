"""Optional teacher-written QA items: a local model (``data.augment.teacher``) reads a passage
and writes one question with a short answer copied from it.

An item is kept only when its answer appears (normalised) in one sentence of the passage,
which becomes the evidence, is at most 12 words long and is not given away by the question.
Calls are cached line by line (``edgekit.generate.cached_generate``), so a re-run asks
nothing new.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from edgekit import generate
from edgekit.qa.facts import contains_normalized, split_sentences
from edgekit.qa.passage import Candidate, Passage

PROMPT = (
    "Read the text. Write one question that a worker could ask and that the text answers, "
    "then its answer copied word for word from the text, at most ten words.\n"
    "Reply in exactly two lines:\nQ: <question>\nA: <answer>\n\nText:\n{text}"
)
_REPLY = re.compile(r"^\s*Q\s*:\s*(?P<q>.+?\?)\s*$\s*^\s*A\s*:\s*(?P<a>.+?)\s*$", re.M | re.I)


def parse_reply(reply: str, p: Passage) -> Candidate | None:
    """The teacher's "Q: ...? / A: ..." reply as a candidate, or None when it fails a check."""
    m = _REPLY.search(reply)
    if not m:
        return None
    question, answer = m["q"].strip(), m["a"].strip().strip("\"'").rstrip(".").strip()
    if not 4 <= len(question.split()) <= 30 or not answer or len(answer.split()) > 12:
        return None
    if contains_normalized(question, answer):
        return None
    evidence = next((s for s in split_sentences(p.text) if contains_normalized(s, answer)), None)
    if evidence is None:
        return None
    return Candidate(question, (answer,), evidence, "teacher")


def teacher_candidates(
    passages: list[Passage], teacher: str, cache: Path, limit: int, seed: int = 0
) -> dict[tuple[str, int], list[Candidate]]:
    """Ask the teacher about up to ``limit`` passages (seeded choice); kept candidates by
    (source, section index)."""

    chosen = [p for p in passages if len(p.text) > 80]
    random.Random(seed).shuffle(chosen)
    chosen = chosen[:limit]
    if not chosen:
        return {}
    requests = [[{"role": "user", "content": PROMPT.format(text=p.text[:3000])}] for p in chosen]
    replies = generate.cached_generate(generate.make_generator(teacher), requests, 96, cache)
    out: dict[tuple[str, int], list[Candidate]] = {}
    for p, reply in zip(chosen, replies):
        if (c := parse_reply(reply, p)) is not None:
            out.setdefault((p.source, p.index), []).append(c)
    return out
