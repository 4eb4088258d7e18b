"""The settings choice cannot keep a clearly worse setting (issue 22): a small model starts
from `extract`, equal right answers go to the more precise ones, and the choice says why."""

from __future__ import annotations

from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.qa.choose import Trial, better
from edgekit.qa.prior import prior


def _trial(right: str, f1: list[float]) -> Trial:
    return Trial(tuple(map(float, right)), tuple(1.0 for _ in right), False, tuple(f1))


def test_a_small_model_starts_from_extract_unless_the_config_sets_the_style() -> None:
    base = AnswerSettings(prompt_style="cite")
    start, why = prior(base, 134_515_008)
    assert start.prompt_style == "extract" and "135M" in why
    assert prior(base, 1_500_000_000)[0].prompt_style == "cite"
    assert prior(base, 134_515_008, ["prompt_style"])[0].prompt_style == "cite"


def test_equal_right_answers_go_to_clearly_more_precise_ones() -> None:
    long = _trial("1111100000", [0.2] * 5 + [0.0] * 5)
    short = _trial("1111100000", [0.9] * 5 + [0.0] * 5)
    assert better(short, long) and not better(long, short)
    assert not better(_trial("1111100000", [0.22] * 5 + [0.0] * 5), long)  # within a step
