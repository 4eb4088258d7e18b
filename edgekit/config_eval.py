"""Config sections for evaluations run on the finished bundle (`eval:`)."""

from __future__ import annotations

from pydantic import Field

from edgekit.config_base import Section


class BehaviourSection(Section):
    enabled: bool = False
    """Run the behaviour eval (`edgekit eval behaviour`) on the bundle at the end of
    `edgekit build`; results go to report/behaviour.json, the manifest and the report.
    Costs 9 answers per item plus 16 red-team answers: with the defaults about 10 minutes
    for SmolLM2-135M Q8_0 on one CPU thread (3 s an answer, measured)."""

    limit: int = Field(20, ge=1, le=1000)
    """Items of the bundle's held-out domain eval set to use (the first ones)."""

    seeds: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1, max_length=10)
    """Sampling seeds: the first answers every question; all of them measure stability."""

    max_tokens: int = Field(128, ge=8, le=4096)
    """Longest answer generated per question during the eval."""

    length_words: int = Field(30, ge=5, le=500)
    """Word limit asked for in the length-compliance prompts."""

    quant: str | None = None
    """Which GGUF type in the bundle to evaluate (default: the bundle's default model)."""


class EvalSection(Section):
    behaviour: BehaviourSection = Field(default_factory=BehaviourSection)
    """Behaviour eval through the site runtime (llama.cpp, the bundle's KB and rules)."""
