"""`edgekit eval qa`: ask a bundle its QA set through the one answer path and score it.

The bundle is opened once (verified, the GGUF `chat` loads, the KB copy, the rules) and
every question goes through :func:`edgekit.runtime.answer.path.plan_answer` with the settings
under test, exactly as `chat` and `serve` would build it. Answers are memoised by prompt
and decoding parameters, so trying several settings never asks the same prompt twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.qa.score import score_answer, summarize
from edgekit.runtime.answer.knowledge import has_kb, open_kb
from edgekit.runtime.answer.path import Decoding, plan_answer, token_counter
from edgekit.runtime.site.verified import open_bundle
from edgekit.runtime.threads import default_threads

Progress = Callable[[int, int], None]
EVAL_SEED = 0


def excerpt(hit: Any) -> dict[str, Any]:
    """A KB hit as the scorer (and the API's `citations`) sees it."""
    return {"text": hit.text, "source": hit.source, "page": hit.page, "heading": hit.heading}


@dataclass
class QASession:
    """A bundle opened once for many questions."""

    site: Any
    llm: Any
    kb: Any
    rules: list[Any]
    settings: AnswerSettings
    cache: dict[str, tuple[str, bool, float]] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        bundle: Path,
        qtype: str | None = None,
        threads: int | None = None,
        pubkey: Path | None = None,
    ) -> QASession:
        from edgekit.runtime.answer.prompting import load_rules
        from edgekit.runtime.answer.session import load_model

        site = open_bundle(bundle, pubkey=pubkey)
        llm = load_model(site, threads=threads or default_threads(), qtype=qtype)
        kb = open_kb(site) if has_kb(site) else None
        rules = load_rules(site.root / mf.RULES_FILE)
        return cls(site, llm, kb, rules, AnswerSettings.from_manifest(site.manifest))

    def ask(self, item: Any, settings: AnswerSettings) -> dict[str, Any]:
        """One item through the answer path; the record holds the answer and its scores."""
        from edgekit.runtime.answer.stream import answer_text

        plan = plan_answer(
            settings,
            [{"role": "user", "content": item.question}],
            token_counter(self.llm),
            kb=self.kb,
            rules=self.rules,
            decoding=Decoding(seed=EVAL_SEED),
        )
        key = json.dumps(
            [plan.messages, plan.sampling, plan.fixed_reply, plan.grammar], sort_keys=True
        )
        if key not in self.cache:
            start = time.perf_counter()
            text, state = answer_text(self.llm, plan)
            self.cache[key] = (text.strip(), state.loop_stopped, time.perf_counter() - start)
        text, loop_stopped, seconds = self.cache[key]
        cited = [excerpt(h) for h in plan.hits]
        return {
            "id": item.id,
            "split": item.split,
            "kind": item.kind,
            "question": item.question,
            "answers": list(item.answers),
            "answer": text,
            "citations": [
                {k: c[k] for k in ("source", "page", "heading")} | {"index": n}
                for n, c in enumerate(cited, start=1)
            ],
            "loop_stopped": loop_stopped,
            "seconds": round(seconds + plan.retrieval_seconds, 3),
            "scores": score_answer(item, text, cited, [excerpt(h) for h in plan.retrieved]),
        }

    def evaluate(
        self,
        items: Sequence[Any],
        settings: AnswerSettings | None = None,
        progress: Progress | None = None,
        hopeless: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> dict[str, Any]:
        """Every item with ``settings`` (default: the bundle's): metrics and records.

        With ``hopeless`` (the records so far -> True when the rest cannot matter: see
        edgekit.qa.choose.cannot_win), stop as soon as it says so; the result then says
        ``"pruned": True`` and its metrics cover the items asked."""
        settings = settings or self.settings
        records: list[dict[str, Any]] = []
        pruned = False
        for i, item in enumerate(items):
            records.append(self.ask(item, settings))
            if progress:
                progress(i + 1, len(items))
            if hopeless is not None and i + 1 < len(items) and hopeless(records):
                pruned = True
                break
        metrics = summarize([r["scores"] for r in records], [r["seconds"] for r in records])
        metrics["loops_stopped"] = sum(r["loop_stopped"] for r in records)
        return {
            "settings": settings.tunable(),
            "metrics": metrics,
            "records": records,
            "pruned": pruned,
        }


def item_utility(scores: dict[str, Any]) -> float:
    """1 for a right answer to an answerable item or an abstention on an unanswerable one."""
    if scores["answerable"]:
        return float(scores["correct"])
    return float(scores["abstained"])


def item_f1(scores: dict[str, Any]) -> float:
    """How precise a right answer is: the token F1 of its short answer (``token_f1`` as
    edgekit.qa.score gives it), or, for an unanswerable item, 1/0 abstained."""
    if scores["answerable"]:
        return float(scores.get("token_f1") or 0.0)
    return float(scores["abstained"])


def utility(metrics: dict[str, Any]) -> float:
    """One number to choose settings by: right answers on answerable questions and
    abstentions on unanswerable ones, each counted per question (ties go to precision,
    :func:`precision`, then citations: edgekit.qa.choose.better)."""
    right = (metrics["answer_accuracy"] or 0.0) * metrics["answerable"]
    abstain = (metrics["abstention_rate"] or 0.0) * metrics["unanswerable"]
    return (right + abstain) / max(1, metrics["items"])


def precision(metrics: dict[str, Any]) -> float:
    """Second to :func:`utility`: the short answers' token F1 on answerable questions and
    abstentions on unanswerable ones, per question."""
    f1 = (metrics.get("token_f1") or 0.0) * metrics["answerable"]
    abstain = (metrics["abstention_rate"] or 0.0) * metrics["unanswerable"]
    return (f1 + abstain) / max(1, metrics["items"])
