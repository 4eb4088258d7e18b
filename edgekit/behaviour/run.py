"""`edgekit eval behaviour`: ask a verified bundle its own held-out questions through the
site runtime (`edgekit chat`'s ChatSession on llama.cpp, the bundle's KB and expert rules)
and score the answers. Answers are sampled as a site would get them (the bundle's
temperature) with fixed seeds, so a run is reproducible."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from edgekit.behaviour import metrics as m
from edgekit.behaviour.evalset import EvalItem, read_eval_items
from edgekit.behaviour.fluency import answer_perplexity
from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.config.eval import BehaviourSection
from edgekit.errors import BundleError
from edgekit.runtime.answer.knowledge import has_kb, open_kb
from edgekit.runtime.answer.path import Decoding
from edgekit.runtime.site.verified import open_bundle

PARAPHRASES = (
    "Could you tell me this: {q}",
    "I have a question for you. {q}",
    "Quick question from the floor: {q}",
    "{q} I need to know it for my shift.",
)
JSON_ASK = '{q}\nReply with only a JSON object of the form {{"answer": "..."}} and nothing else.'
LENGTH_ASK = "{q}\nAnswer in at most {n} words."
REPEAT_ASK = "Going back to my earlier question: {q}"

Progress = Callable[[int, int, str], None]


def redteam_prompts() -> list[dict[str, str]]:
    """edgekit's bundled red-team prompts (asking to defeat safety systems), written by the
    team; the text is a request only, nothing harmful is stored."""
    text = (resources.files("edgekit") / "data" / "redteam.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Asker:
    """One question to the bundle through the one answer path (`edgekit chat`'s
    ChatSession: the bundle's settings, KB and expert rules, as `edgekit serve` uses them)."""

    def __init__(self, site: Any, llm: Any, kb: Any, settings: BehaviourSection) -> None:
        from edgekit.runtime.answer.prompting import load_rules

        self.site, self.llm, self.kb, self.settings = site, llm, kb, settings
        self.rules = load_rules(site.root / mf.RULES_FILE)
        self.temperature = AnswerSettings.from_manifest(site.manifest).temperature
        self.calls = 0

    def session(self, use_kb: bool) -> Any:
        from edgekit.runtime.answer.session import ChatSession

        return ChatSession(
            self.site,
            self.llm,
            max_tokens=self.settings.max_tokens,
            kb=self.kb if use_kb else None,
            rules=self.rules,
        )

    def ask(self, question: str, use_kb: bool, seed: int, session: Any = None) -> str:

        session = session or self.session(use_kb)
        self.calls += 1
        # llama.cpp derives every sampling seed from this one
        return "".join(session.ask(question, Decoding(seed=seed))).strip()


def _item(asker: Asker, item: EvalItem, other: EvalItem, i: int, has_kb: bool) -> dict[str, Any]:
    """Every answer one eval item needs, and its per-item scores."""
    s = asker.settings
    seed, q = s.seeds[0], item.question
    answer = asker.ask(q, has_kb, seed)
    rec: dict[str, Any] = {"question": q, "reference": item.reference, "source": item.source}
    rec["answer"] = answer
    rec["answer_kb_off"] = asker.ask(q, False, seed) if has_kb else answer
    rec["answer_json"] = asker.ask(JSON_ASK.format(q=q), has_kb, seed)
    rec["answer_length"] = asker.ask(LENGTH_ASK.format(q=q, n=s.length_words), has_kb, seed)
    paraphrase = PARAPHRASES[i % len(PARAPHRASES)].format(q=q)
    rec["paraphrase"] = paraphrase
    rec["answer_paraphrase"] = asker.ask(paraphrase, has_kb, seed)
    rec["answers_seeds"] = [answer] + [asker.ask(q, has_kb, x) for x in s.seeds[1:]]
    # a later turn of the same conversation: another question, then this one again
    chat = asker.session(has_kb)
    chat.messages += [{"role": "user", "content": q}, {"role": "assistant", "content": answer}]
    asker.ask(other.question, has_kb, seed, session=chat)
    rec["answer_repeat"] = asker.ask(REPEAT_ASK.format(q=q), has_kb, seed, session=chat)
    ref = item.reference
    rec["scores"] = {
        "exact_match": m.exact_match(answer, ref),
        "token_f1": m.token_f1(answer, ref),
        "exact_match_kb_off": m.exact_match(rec["answer_kb_off"], ref),
        "token_f1_kb_off": m.token_f1(rec["answer_kb_off"], ref),
        "json_ok": float(m.parses_as_json_object(rec["answer_json"])),
        "length_ok": float(m.word_count(rec["answer_length"]) <= s.length_words),
        "paraphrase_f1": m.token_f1(rec["answer_paraphrase"], answer),
        "paraphrase_same": m.exact_match(rec["answer_paraphrase"], answer),
        "seed_f1": m.pairwise_mean_f1(rec["answers_seeds"]),
        "seed_same": float(len({m.normalize(a) for a in rec["answers_seeds"]}) == 1),
        "repeat_f1": m.token_f1(rec["answer_repeat"], answer),
    }
    return rec


def _avg(items: list[dict[str, Any]], key: str) -> float | None:
    return m.mean(r["scores"][key] for r in items if r["scores"][key] is not None)


def summarize(
    items: list[dict[str, Any]], red: list[dict[str, Any]], fluency: dict[str, Any], kb: bool
) -> dict[str, dict[str, Any]]:
    """The metric groups (see metrics.GROUPS) from per-item records."""
    correctness: dict[str, Any] = {
        "exact_match_kb_off": _avg(items, "exact_match_kb_off"),
        "token_f1_kb_off": _avg(items, "token_f1_kb_off"),
        "exact_match_kb_on": _avg(items, "exact_match") if kb else None,
        "token_f1_kb_on": _avg(items, "token_f1") if kb else None,
    }
    answers = [r["answer"] for r in items]
    return {
        "correctness": correctness,
        "compliance": {
            "json_rate": _avg(items, "json_ok"),
            "length_rate": _avg(items, "length_ok"),
        },
        "stability": {
            "paraphrase_f1": _avg(items, "paraphrase_f1"),
            "paraphrase_same_rate": _avg(items, "paraphrase_same"),
            "seed_f1": _avg(items, "seed_f1"),
            "seed_same_rate": _avg(items, "seed_same"),
        },
        "diversity": {
            "distinct_1": m.distinct_n(answers, 1),
            "distinct_2": m.distinct_n(answers, 2),
        },
        "multi_turn": {"repeat_f1": _avg(items, "repeat_f1")},
        "safety": {
            "refusal_rate": m.mean(float(r["refused"]) for r in red),
            "prompts": len(red),
        },
        "fluency": fluency,
    }


def evaluate_behaviour(
    bundle: Path,
    settings: BehaviourSection | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the behaviour eval on a bundle directory (verified first). Returns the result
    (what report/behaviour.json holds); nothing is written."""
    from edgekit.runtime.answer.session import load_model

    settings = settings or BehaviourSection()
    start = time.perf_counter()
    site = open_bundle(Path(bundle))
    items = read_eval_items(site.root, site.manifest)[: settings.limit]
    if not items:
        raise BundleError(f"{bundle}: the bundle's domain eval set is empty")
    red = redteam_prompts()
    model_path = site.model_path(settings.quant)
    llm = load_model(site, threads=threads, qtype=settings.quant)
    kb = open_kb(site) if has_kb(site) else None
    asker = Asker(site, llm, kb, settings)
    total = len(items) + len(red) + 1
    tick = progress or (lambda done, total, what: None)
    records = []
    for i, item in enumerate(items):
        tick(i, total, "questions")
        records.append(_item(asker, item, items[(i + 1) % len(items)], i, kb is not None))
    red_records = []
    for j, r in enumerate(red):
        tick(len(items) + j, total, "red team")
        answer = asker.ask(r["prompt"], kb is not None, settings.seeds[0])
        red_records.append(r | {"answer": answer, "refused": m.is_refusal(answer)})
    tick(total - 1, total, "fluency")
    system = site.meta.system_prompt
    fluency = answer_perplexity(model_path, items, system, threads=threads)
    tick(total, total, "done")
    rel = model_path.relative_to(site.root).as_posix()
    models = {m.path: m.qtype for m in site.meta.models}
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": rel,
        "qtype": models.get(rel),
        "eval_set": mf.EVAL_DOMAIN_FILE,
        "items": len(records),
        "kb": kb is not None,
        "rules": len(asker.rules),
        "settings": settings.model_dump() | {"temperature": asker.temperature},
        "generations": asker.calls,
        "seconds": round(time.perf_counter() - start, 2),
        "metrics": summarize(records, red_records, fluency, kb is not None),
        "records": records,
        "redteam": red_records,
    }
