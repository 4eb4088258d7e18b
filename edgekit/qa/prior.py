"""Where the settings choice starts: a measured prior per model size.

A small dev split cannot show every real difference: on two real PDF manuals (53 pages, 11
dev questions) `extract` won 2-0 over `cite` on dev, short of the sign test, so the build
kept `cite`, which then answered 0.00 of the test split (issue 22); by hand, 11/16 right
with `extract` vs 7/16 with `cite` (SmolLM2-135M). A model under a billion parameters
writes worse answers than the excerpts' best sentence, so for it the choice starts from
`extract` and leaves it only for a style that is clearly better on dev
(:func:`edgekit.qa.choose.better`). Larger models start from the config's style. A prompt
style the config sets is never changed.
"""

from __future__ import annotations

from typing import Any

from edgekit.bundle.answer_settings import AnswerSettings

#: models below this many parameters start from the `extract` style
SMALL_MODEL_PARAMS = 1_000_000_000
SMALL_MODEL_STYLE = "extract"


def model_params(llm: Any) -> int | None:
    """Parameters of a loaded llama.cpp model (None when it cannot say)."""
    try:
        n = int(llm._model.n_params())
    except (AttributeError, TypeError, ValueError):
        return None
    return n if n > 0 else None


def size_label(n: int | None) -> str:
    """135M, 1.5B; "unknown size" for None."""
    if n is None:
        return "unknown size"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{round(n / 1e6)}M"


def prior(
    base: AnswerSettings, n_params: int | None, pinned: list[str] | tuple[str, ...] = ()
) -> tuple[AnswerSettings, str]:
    """The settings the choice starts from, and why."""
    size = size_label(n_params)
    if "prompt_style" in pinned:
        return base, f"prompt_style {base.prompt_style} is set in the config (kept)"
    if n_params is not None and n_params < SMALL_MODEL_PARAMS:
        start = base.with_values(prompt_style=SMALL_MODEL_STYLE)
        return start, (
            f"started from {SMALL_MODEL_STYLE}, the measured prior for models under "
            f"{size_label(SMALL_MODEL_PARAMS)} parameters (this one: {size})"
        )
    return base, f"started from the config's {base.prompt_style} (model: {size})"
