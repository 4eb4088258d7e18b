"""Config sections for evaluations run on the finished bundle (`eval:`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edgekit.config.base import Section


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


class QASection(Section):
    enabled: bool = True
    """Build the bundle's QA eval set and run `edgekit eval qa` at the end of `edgekit
    build` (needs `docs` and the KB): answer accuracy, citations, retrieval hit, abstention,
    loops; results in report/qa.json, the manifest and the report."""

    file: Path | None = None
    """The QA set (JSONL: question, answers, source, optional page/section/split). Default:
    `eval/qa.jsonl` beside this config when present, else one generated from `docs`."""

    choose: bool = True
    """Choose retrieval and prompt settings (top_k/context budget, fusion weights, prompt
    style, excerpt order, repeat penalty) on the dev split; values set explicitly in this
    config are kept. The test split reports the chosen settings (and the config's with
    `compare_config`)."""

    search: Literal["standard", "full"] = "standard"
    """`standard`: fusion weights (by retrieval, cheap), prompt style and retrieval depth;
    `full` adds excerpt order and repeat penalty (a pass over the dev items each)."""

    choose_items: int = Field(16, ge=2, le=1000)
    """Dev questions the choice answers (the first ones): each trial answers all of them,
    about 2-8 s an answer for SmolLM2-135M on 2 CPU cores."""

    max_items: int = Field(120, ge=4, le=1000)
    """Most questions generated from the documents (dev + test) when there is no file. The
    build generates about one per page of text (a PDF page, or 400 words of other
    documents), at least 60, up to this cap: a 50-page manual gets about 60 (the extract
    style needs no generation, so their eval is cheap; the time is not measured yet)."""

    max_tokens: int = Field(64, ge=8, le=4096)
    """Longest answer generated per question during the eval and the choice."""

    compare_config: bool = False
    """Also answer the test split with the config's settings when the choice changed them,
    so report/qa.json and its chart show what the choice gained on test. Costs one more
    pass over the test split: about 4 s a question for SmolLM2-135M on 2 CPU cores when
    the config's style asks the model (on a 53-page manual, 124 of the eval's 341 s)."""

    quant: str | None = None
    """Which GGUF type in the bundle to evaluate (default: the bundle's default model)."""


class EvalSection(Section):
    qa: QASection = Field(default_factory=QASection)
    """QA eval (answers and citations on questions from the site's documents)."""

    behaviour: BehaviourSection = Field(default_factory=BehaviourSection)
    """Behaviour eval through the site runtime (llama.cpp, the bundle's KB and rules)."""
