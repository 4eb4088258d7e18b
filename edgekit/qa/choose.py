"""Measured answer settings: choose retrieval, prompt and decoding settings on the QA dev
split, like `quantize.gguf: auto` chooses a quant type.

A coordinate search: start from the bundle's settings, try the alternatives of one
dimension at a time, keep one only when it answers more dev questions right (equal
utility goes to more citations of the answer's excerpt) by more than luck would: dev
splits are small (16 questions by default), so a one-sided sign test over the questions
the two settings answer differently must put the gain below ``CHANCE`` (ties and small
gains keep what was there: the defaults win unless measured worse). Why: on SQuAD (4
articles) a small dev split chose 2 excerpts over the default 4 in one build, and in
another tied 4 with 6, where one more citation would have decided; 400 other questions
of the same articles answer as well with 4 as with 2 or 6 (extract style: 0.688, 0.670,
0.690) and cite the right paragraph far more often than with 2 (0.980 vs 0.922). A trial
stops as soon as it can no longer win (the items left could not lift it to the best so
far), which makes poor candidates cheap. Dimensions the config sets are pinned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgekit.bundle.answer_settings import DEFAULTS, AnswerSettings
from edgekit.qa.run import QASession, item_utility, utility

Candidate = dict[str, Any]
# Chosen by retrieval alone (no answers generated: cheap): which excerpts come back.
# Keyword-heavy weights win where the embedder does not know the documents' language (an
# English embedder on Chinese text); the segmenter matters only for Chinese text.
_DEFAULT_WEIGHTS: Candidate = {
    "bm25_weight": DEFAULTS.bm25_weight,
    "vector_weight": DEFAULTS.vector_weight,
}
FUSION: tuple[Candidate, ...] = (
    _DEFAULT_WEIGHTS,
    {"bm25_weight": 0.7, "vector_weight": 0.3},
    {"bm25_weight": 0.2, "vector_weight": 0.8},
    {"bm25_weight": 0.9, "vector_weight": 0.1},
    {**_DEFAULT_WEIGHTS, "bm25_segmenter": "bigram"},
    {"bm25_weight": 0.9, "vector_weight": 0.1, "bm25_segmenter": "bigram"},
)
# Chosen by answers, one dimension at a time: (dimension, alternatives).
SEARCH: tuple[tuple[str, tuple[Candidate, ...]], ...] = (
    (
        "prompt_style",
        (
            # the usual winner first (and the cheapest: no generation when an evidence
            # sentence is found), so that the others are pruned early
            {"prompt_style": "extract"},
            {"prompt_style": "quote"},
            {"prompt_style": "cite"},
            {"prompt_style": "short"},
        ),
    ),
    (
        "retrieval depth",
        (
            {"top_k": 2, "context_tokens": 400},
            {"top_k": 4, "context_tokens": 800},
            {"top_k": 6, "context_tokens": 1200},
        ),
    ),
)
# Searched only when asked for (eval.qa.search: full): each costs a pass over dev.
EXTENDED: tuple[tuple[str, tuple[Candidate, ...]], ...] = (
    (
        "excerpt_order",
        ({"excerpt_order": "edges"}, {"excerpt_order": "rank"}, {"excerpt_order": "best_last"}),
    ),
    ("repeat_penalty", ({"repeat_penalty": 1.0}, {"repeat_penalty": 1.15})),
)
Progress = Callable[[int, int, str], None]  # (done, total, what)
#: most chance that a candidate's extra right answers (or citations) are luck: 3 more
#: right and none lost (0.125) is as clear as an 8-question dev split can show
CHANCE = 0.15


@dataclass(frozen=True)
class Trial:
    """Per dev question: 1/0 right (or abstained where it should), 1/0 excerpt cited."""

    right: tuple[float, ...]
    cited: tuple[float, ...]
    pruned: bool = False

    @classmethod
    def of(cls, result: dict[str, Any]) -> Trial:
        scores = [r["scores"] for r in result["records"]]
        return cls(
            tuple(item_utility(s) for s in scores),
            tuple(float(s.get("cited", False)) for s in scores),
            bool(result["pruned"]),
        )

    @property
    def utility(self) -> float:
        return sum(self.right) / max(1, len(self.right))

    @property
    def perfect(self) -> bool:
        return not self.pruned and all(self.right) and all(self.cited)


@dataclass
class Choice:
    settings: AnswerSettings
    utility: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "chosen": self.settings.tunable(),
            "dev_utility": round(self.utility, 4),
            "pinned": self.pinned,
            "trials": self.trials,
        }


def choose_settings(
    session: QASession,
    dev: Sequence[Any],
    base: AnswerSettings,
    pinned: Sequence[str] = (),
    search: Sequence[tuple[str, Sequence[Candidate]]] = SEARCH,
    progress: Progress | None = None,
    fusion_dev: Sequence[Any] | None = None,
) -> Choice:
    """The best settings on ``dev`` reachable one dimension at a time from ``base``: most
    dev utility, then (on a tie) most answers whose excerpt is cited, each by more than
    luck (:func:`better`). Fusion weights are
    chosen by retrieval alone on ``fusion_dev`` (default ``dev``; no answers, so cheap)."""
    total = 1 + sum(len(alts) - 1 for _, alts in search)
    done = 0

    def trial(label: str, settings: AnswerSettings, beat: float | None = None) -> Trial:
        """``settings`` on dev, question by question; pruned: it could not reach ``beat``."""
        nonlocal done
        result = session.evaluate(dev, settings, beat=beat)
        m = result["metrics"]
        choice.trials.append(
            {
                "dimension": label,
                "settings": settings.tunable(),
                "utility": 0.0 if result["pruned"] else round(utility(m), 4),
                "metrics": m,
            }
            | ({"pruned_after": len(result["records"])} if result["pruned"] else {})
        )
        done += 1
        if progress:
            progress(done, total, label)
        return Trial.of(result)

    choice = Choice(base, 0.0, pinned=sorted(pinned))
    fusion = [alt for alt in FUSION if not set(alt) & set(pinned)]
    if fusion:
        choice.settings = choose_fusion(session, fusion_dev or dev, base, choice.trials, fusion)
    best_score = trial("start", choice.settings)
    for label, alternatives in search:
        if any(key in pinned for alt in alternatives for key in alt):
            continue
        best = choice.settings
        for alt in alternatives:
            candidate = choice.settings.with_values(**alt)
            if candidate == choice.settings or best_score.perfect:
                continue  # nothing beats every dev item right with its excerpt cited
            score = trial(label, candidate, beat=best_score.utility)
            if better(score, best_score):
                best, best_score = candidate, score
        choice.settings = best
    choice.utility = best_score.utility
    return choice


def better(new: Trial, best: Trial) -> bool:
    """More right answers, or as many and more cited excerpts, by more than luck (on the
    questions the two answer differently); ties and small gains keep what was there."""
    if new.pruned or len(new.right) != len(best.right):
        return False
    if sum(new.right) != sum(best.right):
        return sum(new.right) > sum(best.right) and clear_gain(new.right, best.right)
    return clear_gain(new.cited, best.cited)


def clear_gain(new: Sequence[float], old: Sequence[float]) -> bool:
    """``new`` wins more questions than it loses, at most ``CHANCE`` likely by luck."""
    wins = sum(1 for a, b in zip(new, old) if a > b)
    losses = sum(1 for a, b in zip(new, old) if a < b)
    return wins > losses and sign_test(wins, losses) <= CHANCE


def sign_test(wins: int, losses: int) -> float:
    """One-sided sign test: the chance of ``wins`` or more of ``wins + losses`` fair coin
    flips coming up heads."""
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n if n else 1.0


def retrieval_score(session: QASession, items: Sequence[Any], settings: AnswerSettings) -> float:
    """Mean reciprocal rank of the excerpt holding the answer in the top k (0 if absent)."""
    from edgekit.qa.run import excerpt
    from edgekit.qa.score import gold_rank
    from edgekit.runtime.answer import retrieval_weights

    answerable = [i for i in items if i.answerable]
    total = 0.0
    for item in answerable:
        hits = session.kb.query(
            item.question,
            k=settings.top_k,
            weights=retrieval_weights(settings),
            segmenter=settings.bm25_segmenter,  # type: ignore[arg-type]
        )
        rank = gold_rank([excerpt(h) for h in hits], item)
        total += 1.0 / rank if rank else 0.0
    return total / max(1, len(answerable))


def choose_fusion(
    session: QASession,
    dev: Sequence[Any],
    base: AnswerSettings,
    trials: list[dict[str, Any]],
    candidates: Sequence[Candidate] = FUSION,
) -> AnswerSettings:
    """The fusion weights (and Chinese segmenter) under which the dev answers' excerpts
    rank highest (ties keep the first, the config's own)."""
    best, best_score = base, retrieval_score(session, dev, base)
    trials.append(
        {
            "dimension": "fusion (retrieval MRR)",
            "settings": base.tunable(),
            "mrr": round(best_score, 4),
        }
    )
    for alt in candidates:
        candidate = base.with_values(**alt)
        if candidate == base:
            continue
        score = retrieval_score(session, dev, candidate)
        trials.append(
            {
                "dimension": "fusion (retrieval MRR)",
                "settings": candidate.tunable(),
                "mrr": round(score, 4),
            }
        )
        if score > best_score + 1e-9:
            best, best_score = candidate, score
    return best
