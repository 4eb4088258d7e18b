"""Self-instruct augmentation with a local teacher: questions from a section, answers grounded
in it, kept only when the answer is supported by the section and the question is new.

Bounded (`max_pairs`), seeded (sections are visited in a seeded order), resumable (every
teacher call is cached in a JSONL file, so a re-run after an interruption only asks what is
missing). Filters:
  support: share of the answer's content words that occur in the section >= min_support
  novelty: ROUGE-L F1 of the question against every kept question <= max_similarity
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

from edgekit import generate
from edgekit.config.train import AugmentSection
from edgekit.errors import EdgekitError
from edgekit.kb.loaders import Document
from edgekit.kb.retrieve import terms

QUESTION_PROMPT = (
    "Read the text and write {n} different questions that it answers. "
    "Write one question per line and nothing else.\n\nText:\n{text}"
)
ANSWER_PROMPT = (
    "Answer the question using only the text. Answer in one or two sentences.\n\n"
    "Text:\n{text}\n\nQuestion: {question}"
)


def support(answer: str, source: str) -> float:
    """Share of the answer's content words that appear in the source text."""
    words = terms(answer)
    if not words:
        return 0.0
    vocab = set(terms(source))
    return sum(w in vocab for w in words) / len(words)


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 between two short texts (longest common subsequence of words)."""
    x, y = a.lower().split(), b.lower().split()
    if not x or not y:
        return 0.0
    prev = [0] * (len(y) + 1)
    for xi in x:
        cur = [0]
        for j, yj in enumerate(y, start=1):
            cur.append(prev[j - 1] + 1 if xi == yj else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(x), lcs / len(y)
    return 2 * p * r / (p + r)


def parse_questions(text: str, n: int) -> list[str]:
    out = []
    for line in text.splitlines():
        q = re.sub(r"^\s*(?:[-*]|\d+[.)])\s*", "", line).strip()
        if q.endswith("?") and 3 <= len(q.split()) <= 40:
            out.append(q)
    return out[:n]


def augment(
    documents: list[Document],
    cfg: AugmentSection,
    seed: int,
    cache: Path,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """(question, answer, source title) pairs and counts of what was dropped and why."""

    if cfg.teacher is None:
        raise EdgekitError("data.augment needs a `teacher` model to write questions and answers")
    gen = generate.make_generator(cfg.teacher)
    sections = [(d.title, s.text) for d in documents for s in d.sections if len(s.text) > 80]
    random.Random(seed).shuffle(sections)
    q_requests = [
        [{"role": "user", "content": QUESTION_PROMPT.format(n=cfg.questions_per_chunk, text=text)}]
        for _, text in sections
    ]
    asked = generate.cached_generate(gen, q_requests, 96, cache, progress=progress)
    candidates = [
        (q, title, text)
        for (title, text), out in zip(sections, asked)
        for q in parse_questions(out, cfg.questions_per_chunk)
    ]
    a_requests = [
        [{"role": "user", "content": ANSWER_PROMPT.format(text=t, question=q)}]
        for q, _, t in candidates
    ]
    answers = generate.cached_generate(gen, a_requests, 96, cache, progress=progress)
    kept: list[tuple[str, str, str]] = []
    dropped = {
        "unsupported": 0,
        "near-duplicate": 0,
        "over max_pairs": 0,
        "no question parsed": len(sections) - len({t for _, _, t in candidates}),
    }
    for (q, title, text), a in zip(candidates, answers):
        if support(a, text) < cfg.min_support:
            dropped["unsupported"] += 1
        elif any(rouge_l(q, k[0]) > cfg.max_similarity for k in kept):
            dropped["near-duplicate"] += 1
        elif len(kept) >= cfg.max_pairs:
            dropped["over max_pairs"] += 1
        else:
            kept.append((q, a, title))
    return kept, dropped
