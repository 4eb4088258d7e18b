"""Loop detection: stop a generation that has started repeating itself.

Small models fall into loops ("1.1.1.1.1…", "The answer is: The answer is: …"). The
guard watches the tail of the text after every piece: when the same unit of 1 to
``max_period`` characters repeats back to back at the end, covering at least
``min_chars`` characters and at least ``min_repeats`` times, the generation is degenerate.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PERIOD = 80
MIN_CHARS = 24
MIN_REPEATS = 3


@dataclass(frozen=True)
class Loop:
    period: int  # characters in one repeated unit
    repeats: int  # back-to-back copies at the end of the text

    def trimmed(self, text: str) -> str:
        """``text`` with the repeats cut down to the first copy."""
        return text[: len(text) - (self.repeats - 1) * self.period].rstrip()


def find_loop(
    text: str,
    max_period: int = MAX_PERIOD,
    min_chars: int = MIN_CHARS,
    min_repeats: int = MIN_REPEATS,
) -> Loop | None:
    """The repetition at the end of ``text`` when it is degenerate, else None (the
    shortest period that qualifies)."""
    n = len(text)
    for period in range(1, min(max_period, n // min_repeats) + 1):
        unit = text[n - period :]
        if not unit.strip():
            continue  # runs of whitespace are layout, not a loop
        repeats = 1
        while (
            n - (repeats + 1) * period >= 0
            and text[n - (repeats + 1) * period : n - repeats * period] == unit
        ):
            repeats += 1
        if repeats >= min_repeats and repeats * period >= min_chars:
            return Loop(period, repeats)
    return None


def trim_loop(text: str) -> str:
    """``text`` with a loop at its end cut down to its first copy (unchanged otherwise)."""
    loop = find_loop(text.rstrip())
    return loop.trimmed(text.rstrip()) if loop else text


def is_degenerate(text: str) -> bool:
    """True when ``text`` ends in a loop (also after trailing whitespace is removed)."""
    return find_loop(text.rstrip()) is not None


class LoopGuard:
    """Feed it the generated pieces; ``stopped`` turns True once the text loops."""

    def __init__(self) -> None:
        self.text = ""
        self.loop: Loop | None = None

    @property
    def stopped(self) -> bool:
        return self.loop is not None

    def feed(self, piece: str) -> bool:
        """Add ``piece``; True when the generation should stop now."""
        self.text += piece
        if self.loop is None:
            self.loop = find_loop(self.text[-4 * MAX_PERIOD * MIN_REPEATS :])
        return self.loop is not None

    def final_text(self) -> str:
        """The answer with a detected loop cut down to its first copy."""
        return self.loop.trimmed(self.text) if self.loop else self.text
