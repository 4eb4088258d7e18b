"""Measured answer settings: choose retrieval, prompt and decoding settings on the QA dev
split, like `quantize.gguf: auto` chooses a quant type.

A coordinate search: start from the bundle's settings (for a model under 1B parameters,
from the `extract` style: :mod:`edgekit.qa.prior`), try the alternatives of one dimension
at a time, keep one only when it answers more dev questions right (equal right answers go
to more precise answers, by token F1 of the short answer, then to more citations of the
answer's excerpt) by more than luck would: dev
splits are small (16 questions by default), so a one-sided sign test over the questions
the two settings answer differently must put the gain below ``CHANCE`` (ties and small
gains keep what was there: the defaults win unless measured worse). Why: on SQuAD (4
articles) a small dev split chose 2 excerpts over the default 4 in one build, and in
another tied 4 with 6, where one more citation would have decided; 400 other questions
of the same articles answer as well with 4 as with 2 or 6 (extract style: 0.688, 0.670,
0.690) and cite the right paragraph far more often than with 2 (0.980 vs 0.922). A trial
stops as soon as it can no longer be clearly better than the best so far, even if it
answered every item left right, precisely and cited (:func:`cannot_win`), which makes
poor candidates cheap: on the real PDFs a model-answered style lost its chance within a
few questions of `extract`'s lead. Dimensions the config sets are pinned. The
choice says why it ended where it did (``reason``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgekit.bundle.answer_settings import DEFAULTS, AnswerSettings
from edgekit.qa.prior import prior
from edgekit.qa.run import QASession, excerpt, item_f1, item_utility, utility
from edgekit.qa.score import gold_rank
from edgekit.runtime.answer.path import retrieval_weights

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
    """Per dev question: 1/0 right (or abstained where it should), 1/0 excerpt cited,
    and the short answer's token F1 (empty: not measured)."""

    right: tuple[float, ...]
    cited: tuple[float, ...]
    pruned: bool = False
    f1: tuple[float, ...] = ()

    @classmethod
    def of(cls, result: dict[str, Any]) -> Trial:
        scores = [r["scores"] for r in result["records"]]
        return cls(
            tuple(item_utility(s) for s in scores),
            tuple(float(s.get("cited", False)) for s in scores),
            bool(result["pruned"]),
            tuple(item_f1(s) for s in scores),
        )

    def summary(self) -> str:
        """ "14/31 right, F1 0.42" (or "pruned after 9")."""
        n = len(self.right)
        if self.pruned:
            return f"pruned after {n} ({int(sum(self.right))} right)"
        f1 = f", F1 {sum(self.f1) / n:.2f}" if self.f1 and n else ""
        return f"{int(sum(self.right))}/{n} right{f1}"

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
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "chosen": self.settings.tunable(),
            "dev_utility": round(self.utility, 4),
            "pinned": self.pinned,
            "reason": self.reason,
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
    n_params: int | None = None,
) -> Choice:
    """The best settings on ``dev`` reachable one dimension at a time from ``base`` (or
    from the model size's prior: :func:`edgekit.qa.prior.prior`, given ``n_params``): most
    dev questions right, then (on a tie) the most precise answers, then most answers whose
    excerpt is cited, each by more than luck (:func:`better`). Fusion weights are chosen by
    retrieval alone on ``fusion_dev`` (default ``dev``; no answers, so cheap)."""
    total = 1 + sum(len(alts) - 1 for _, alts in search)
    done = 0

    def trial(label: str, settings: AnswerSettings, beat: Trial | None = None) -> Trial:
        """``settings`` on dev, question by question; pruned: it could not beat ``beat``."""
        nonlocal done
        hopeless = cannot_win(beat, len(dev)) if beat is not None else None
        result = session.evaluate(dev, settings, hopeless=hopeless)
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

    start, why = prior(base, n_params, list(pinned))
    choice = Choice(start, 0.0, pinned=sorted(pinned), reasons=[why])
    fusion = [alt for alt in FUSION if not set(alt) & set(pinned)]
    if fusion:
        choice.settings = choose_fusion(session, fusion_dev or dev, start, choice.trials, fusion)
    best_score = trial("start", choice.settings)
    for label, alternatives in search:
        if any(key in pinned for alt in alternatives for key in alt):
            continue
        keys = sorted({k for alt in alternatives for k in alt})
        held = ", ".join(f"{k} {getattr(choice.settings, k)}" for k in keys)
        best, tried = choice.settings, []
        for alt in alternatives:
            candidate = choice.settings.with_values(**alt)
            if candidate == choice.settings or best_score.perfect:
                continue  # nothing beats every dev item right with its excerpt cited
            score = trial(label, candidate, beat=best_score)
            shown = ", ".join(f"{k} {v}" for k, v in alt.items())
            if better(score, best_score):
                tried.append(f"{shown} clearly better ({score.summary()})")
                best, best_score = candidate, score
            else:
                tried.append(f"{shown} not clearly better ({score.summary()})")
        if tried:
            kept = "kept" if best == choice.settings else "chose"
            now = ", ".join(f"{k} {getattr(best, k)}" for k in keys)
            choice.reasons.append(
                f"{label}: {kept} {now} ({best_score.summary()} of {len(dev)} dev; "
                f"from {held}): " + "; ".join(tried)
            )
        choice.settings = best
    choice.utility = best_score.utility
    return choice


#: token F1 differences below this are no difference (the same answer, another mark)
F1_STEP = 0.05


def better(new: Trial, best: Trial) -> bool:
    """More right answers; or as many, and more precise (token F1 of the short answer,
    per question); or as precise, and more cited excerpts: each by more than luck (on the
    questions the two answer differently). Ties and small gains keep what was there."""
    if new.pruned or len(new.right) != len(best.right):
        return False
    if sum(new.right) != sum(best.right):
        return sum(new.right) > sum(best.right) and clear_gain(new.right, best.right)
    if new.f1 and len(new.f1) == len(best.f1):
        steps = [round(f / F1_STEP) for f in new.f1], [round(f / F1_STEP) for f in best.f1]
        if steps[0] != steps[1] and sum(new.f1) != sum(best.f1):
            return sum(new.f1) > sum(best.f1) and clear_gain(*steps)
    return clear_gain(new.cited, best.cited)


def cannot_win(best: Trial, n: int) -> Callable[[list[dict[str, Any]]], bool]:
    """For :meth:`QASession.evaluate`: True once a trial of ``n`` items, whose records so
    far are given, could not be :func:`better` than ``best`` even with every item left
    right, with an exact short answer and its excerpt cited."""

    def hopeless(records: list[dict[str, Any]]) -> bool:
        done = Trial.of({"records": records, "pruned": False})
        left = (1.0,) * (n - len(records))
        best_case = Trial(done.right + left, done.cited + left, False, done.f1 + left)
        return not better(best_case, best)

    return hopeless


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
