"""One chat request, planned the same way by `edgekit serve` and `edgekit chat`: the answer
plan (:func:`edgekit.runtime.answer.path.plan_answer`), the token limits (a prompt over the
limit is refused, `max_tokens` is shortened to what the context window has left) and the
expert adapter that answers (named, or routed by the best knowledge-base hit).

Serve wraps this in HTTP (a :class:`Refused` becomes a 4xx), chat in a terminal (the CLI
prints the message). Nothing heavy is imported here."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.errors import EdgekitError
from edgekit.runtime.answer.path import (
    NO_OVERRIDES,
    AnswerPlan,
    Decoding,
    plan_answer,
    prompt_tokens,
)

DEFAULT_MAX_OUTPUT_TOKENS = 1024  # most tokens one answer may generate
PROMPT_MARGIN = 256  # default prompt limit: the context window minus this, for the answer
BASE = "base"  # the adapter name that asks for no expert


class Refused(EdgekitError):
    """A request that is not answered as asked; ``param`` names what to change and
    ``status`` is the HTTP status serve answers with."""

    def __init__(self, message: str, param: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


@dataclass(frozen=True)
class Limits:
    """Token limits of one answer: the context window, the longest prompt and the most
    output tokens a request may ask for."""

    n_ctx: int
    max_prompt: int
    max_output: int = DEFAULT_MAX_OUTPUT_TOKENS

    @classmethod
    def of(
        cls,
        n_ctx: int,
        max_prompt_tokens: int | None = None,
        max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
    ) -> Limits:
        """The limits for a context window; no prompt limit means the window minus
        :data:`PROMPT_MARGIN` (at least 64 tokens)."""
        return cls(n_ctx, max_prompt_tokens or max(64, n_ctx - PROMPT_MARGIN), max_output_tokens)


@dataclass
class PlannedRequest:
    """A request ready to generate: its plan, prompt size and the adapter that answers."""

    plan: AnswerPlan
    prompt_tokens: int
    adapter: str | None  # an expert's name, or None for the main model


def plan_request(
    settings: AnswerSettings,
    conversation: Sequence[dict[str, Any]],
    count_tokens: Callable[[str], int],
    limits: Limits,
    *,
    kb: Any = None,
    rules: Sequence[Any] = (),
    decoding: Decoding = NO_OVERRIDES,
    use_kb: bool = True,
    experts: Mapping[str, Sequence[str]] | None = None,
    adapter: str | None = None,
) -> PlannedRequest:
    """Plan the answer, check it against ``limits`` and choose its adapter (``adapter``:
    an expert's name, :data:`BASE`, or None to route by the best hit)."""
    experts = experts or {}
    if adapter not in (None, BASE) and adapter not in experts:
        raise Refused(
            f"adapter {adapter!r} is not in this bundle (have: {', '.join(experts) or 'none'})",
            "model",
            404,
        )
    plan = plan_answer(
        settings, conversation, count_tokens, kb=kb, rules=rules, decoding=decoding, use_kb=use_kb
    )
    n_prompt = prompt_tokens(plan, count_tokens)
    plan.sampling["max_tokens"] = fit(n_prompt, plan.max_tokens, limits)
    top = plan.hits[0].source if plan.hits else None
    return PlannedRequest(plan, n_prompt, route(experts, adapter, top))


def fit(n_prompt: int, max_tokens: int, limits: Limits, prompt_param: str = "messages") -> int:
    """The `max_tokens` an answer gets: a prompt or a `max_tokens` over the limits is
    refused; `max_tokens` is shortened to what the context window has left after the
    prompt."""
    if n_prompt > limits.max_prompt:
        raise Refused(
            f"prompt is {n_prompt} tokens; the limit is {limits.max_prompt} (max_prompt_tokens)",
            prompt_param,
        )
    if max_tokens > limits.max_output:
        raise Refused(
            f"max_tokens {max_tokens} is over this server's limit of "
            f"{limits.max_output} (max_output_tokens)",
            "max_tokens",
        )
    return min(max_tokens, max(1, limits.n_ctx - n_prompt))


def route(
    experts: Mapping[str, Sequence[str]], adapter: str | None, top_source: str | None
) -> str | None:
    """The expert that answers: the one named, none for :data:`BASE`, else the first whose
    document patterns match the best hit's source (its path under the bundle's KB root)."""
    if adapter == BASE:
        return None
    if adapter is not None:
        return adapter
    if top_source:
        rel = top_source.split("/", 1)[1] if "/" in top_source else top_source
        for name, patterns in experts.items():
            if any(fnmatch.fnmatch(rel, p) for p in patterns):
                return name
    return None
