"""Measured answer settings: choose retrieval, prompt and decoding settings on the QA dev
split, like `quantize.gguf: auto` chooses a quant type.

A coordinate search: start from the bundle's settings, try the alternatives of one
dimension at a time, keep one only when it answers more dev questions right (ties keep
what was there: the defaults win unless measured worse). Dimensions whose values the
config sets explicitly are pinned and never searched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.qa.run import QASession, utility

Candidate = dict[str, Any]
# (dimension, alternatives): each alternative sets one or more AnswerSettings fields
SEARCH: tuple[tuple[str, tuple[Candidate, ...]], ...] = (
    (
        "prompt_style",
        ({"prompt_style": "cite"}, {"prompt_style": "short"}, {"prompt_style": "quote"}),
    ),
    (
        "retrieval depth",
        (
            {"top_k": 2, "context_tokens": 400},
            {"top_k": 3, "context_tokens": 600},
            {"top_k": 4, "context_tokens": 800},
            {"top_k": 6, "context_tokens": 1200},
        ),
    ),
    (
        "excerpt_order",
        ({"excerpt_order": "edges"}, {"excerpt_order": "rank"}, {"excerpt_order": "best_last"}),
    ),
    (
        "fusion weights",
        (
            {"bm25_weight": 0.4, "vector_weight": 0.6},
            {"bm25_weight": 0.7, "vector_weight": 0.3},
            {"bm25_weight": 0.2, "vector_weight": 0.8},
        ),
    ),
    ("repeat_penalty", ({"repeat_penalty": 1.0}, {"repeat_penalty": 1.15})),
)
Progress = Callable[[int, int, str], None]  # (done, total, what)


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
) -> Choice:
    """The best settings on ``dev`` reachable one dimension at a time from ``base``."""
    total = 1 + sum(len(alts) - 1 for _, alts in search)
    done = 0

    def trial(label: str, settings: AnswerSettings) -> float:
        nonlocal done
        result = session.evaluate(dev, settings)
        u = utility(result["metrics"])
        choice.trials.append(
            {
                "dimension": label,
                "settings": settings.tunable(),
                "utility": round(u, 4),
                "metrics": result["metrics"],
            }
        )
        done += 1
        if progress:
            progress(done, total, label)
        return u

    choice = Choice(base, 0.0, pinned=sorted(pinned))
    choice.utility = trial("start", base)
    for label, alternatives in search:
        if any(key in pinned for alt in alternatives for key in alt):
            continue
        best, best_u = choice.settings, choice.utility
        for alt in alternatives:
            candidate = choice.settings.with_values(**alt)
            if candidate == choice.settings:
                continue
            u = trial(label, candidate)
            if u > best_u + 1e-9:
                best, best_u = candidate, u
        choice.settings, choice.utility = best, best_u
    return choice
