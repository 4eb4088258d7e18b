"""Retrieval-aware training examples (edgekit.data.grounded): fast, no model."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from edgekit.config.train import DataSection
from edgekit.data.build import build_data, load_documents
from edgekit.data.grounded import (
    NOT_IN_EXCERPTS,
    _Chunk,
    _example,
    _Prompt,
    chunk_documents,
    gold_chunk,
    grounded_examples,
    qa_items,
    seq_tokens,
)
from edgekit.kb.context import CITE_INSTRUCTION, SHORT_INSTRUCTION
from edgekit.qa.facts import question_key

EMERGENCY = """# Emergency Response

Everyone who goes underground must know the escape routes and the refuge chambers.

## Refuge Chambers

A refuge chamber supports 20 people for 36 hours. Refuge chambers are inspected every 30 days.
The door seal of a refuge chamber is replaced every 2 years.

## Raising the Alarm

To report an emergency, call the Control Room on radio channel 1 or dial extension 222.
The evacuation drill is held every 6 months.

## How long does a self-rescuer last?

A self-rescuer supplies oxygen for 30 minutes of walking.
"""

GAS = """# Gas Monitoring

Gas detectors protect everyone underground.

## Methane

Diesel equipment is shut down when methane reaches 1.0 percent.
Power is isolated when methane reaches 1.25 percent.

## Carbon Monoxide

The carbon monoxide alarm sounds at 30 ppm. Workers must leave the area within 10 minutes.

## Calibration

Every gas detector is bump tested at the start of each shift.
Detectors are calibrated every 30 days in the lamp room.
"""

_BLOCK = re.compile(r"^\[(\d+)\] (\S+)", re.MULTILINE)


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "safety").mkdir(parents=True)
    (root / "emergency.md").write_text(EMERGENCY)
    (root / "safety" / "gas.md").write_text(GAS)
    return root


def make(
    docs: Path,
    seed: int = 0,
    exclude: set[str] | None = None,
    style: str = "cite",
    max_seq_tokens: int | None = None,
    **cfg: object,
) -> list[dict]:
    documents, errors = load_documents(docs)
    assert not errors
    return grounded_examples(
        documents,
        docs,
        "SYSTEM",
        exclude or set(),
        DataSection(**cfg),
        random.Random(seed),
        style=style,
        max_seq_tokens=max_seq_tokens,
    )


def excerpts(user: str) -> dict[int, str]:
    """Excerpt number -> its block (citation line and text) in a user turn."""
    marks = list(_BLOCK.finditer(user))
    end = user.index("\n\nQuestion: ")
    out = {}
    for m, nxt in zip(marks, marks[1:] + [None]):
        out[int(m[1])] = user[m.start() : nxt.start() if nxt else end]
    return out


def question_of(row: dict) -> str:
    return row["messages"][1]["content"].split("\n\nQuestion: ", 1)[1].split("\n", 1)[0]


def answers_by_question(docs: Path) -> dict[str, tuple[str, ...]]:
    documents, _ = load_documents(docs)
    return {i.question: i.answers for i in qa_items(documents, docs, 200, 0)}


def test_rows_have_the_runtime_prompt_format(docs: Path):
    rows = make(docs)
    assert len(rows) >= 8
    for row in rows:
        system, user, assistant = row["messages"]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert system["content"] == "SYSTEM" and row["rule"] == "grounded"
        assert row["source"] in {"emergency.md", "safety/gas.md"}
        text = user["content"]
        assert text.startswith(CITE_INSTRUCTION + "\n\n[")
        assert "\n\nQuestion: " in text and text.rstrip().endswith("?")
        assert "[1] docs/" in text
        blocks = excerpts(text)
        assert sorted(blocks) == list(range(1, len(blocks) + 1)) and 1 <= len(blocks) <= 4
        assert all(b.split(" ", 2)[1].startswith("docs/") for b in blocks.values())
        assert " › " in blocks[1].split("\n", 1)[0]  # "docs/x.md › Title > Heading"
        assert assistant["content"]
    short = make(docs, style="short")
    assert all(r["messages"][1]["content"].endswith("?\n" + SHORT_INSTRUCTION) for r in short)


def test_answer_cites_the_excerpt_holding_it(docs: Path):
    rows = make(docs, grounded_unanswerable=0.0)
    answers = answers_by_question(docs)
    assert len(rows) >= 8
    spans = 0
    for row in rows:
        answer = row["messages"][2]["content"]
        span, sentence, number = parse_answer(answer)
        assert len(sentence.split()) <= 60
        cited = " ".join(excerpts(row["messages"][1]["content"])[number].split())
        assert sentence in cited  # the answer sentence is the cited excerpt's text
        assert any(a in cited for a in answers[question_of(row)])
        if span is not None:  # the short answer first, as the extract style writes it
            spans += 1
            assert span in answers[question_of(row)] and f"**{span}**" in answer
    assert spans >= len(rows) // 2
    refuge = [r for r in rows if "36 hours" in r["messages"][2]["content"]]
    assert refuge, "the refuge chamber fact is asked about"


def parse_answer(answer: str) -> tuple[str | None, str, int]:
    """(the span the answer starts with or None, its sentence unmarked, its citation)."""
    head, sep, rest = answer.partition("\n\n")
    body = rest if sep else head
    m = re.fullmatch(r'"(.+)" \[(\d)\]', body) or re.fullmatch(r"(.+) \[(\d)\]", body)
    assert m, answer
    return (head if sep else None), m[1].replace("**", ""), int(m[2])


def test_prompts_fit_the_training_sequence_length(docs: Path):
    full = make(docs)
    short = make(docs, max_seq_tokens=220)
    assert len(short) == len(full)
    n_full = sum(len(excerpts(r["messages"][1]["content"])) for r in full)
    n_short = sum(len(excerpts(r["messages"][1]["content"])) for r in short)
    assert n_short < n_full
    for row in short:
        system, user, assistant = (m["content"] for m in row["messages"])
        assert seq_tokens(f"{user}\n{assistant}") + seq_tokens(system) <= (220 - 16) / 1.1
        answer = row["messages"][2]["content"]
        if answer != NOT_IN_EXCERPTS:
            _, sentence, number = parse_answer(answer)
            assert sentence in " ".join(excerpts(row["messages"][1]["content"])[number].split())


def test_gold_excerpt_replaces_the_last_hit_when_retrieval_missed(docs: Path):
    documents, _ = load_documents(docs)
    chunks = chunk_documents(documents, docs)
    item = next(i for i in qa_items(documents, docs, 200, 0) if "20 people" in i.answers)
    gold = gold_chunk(item, chunks)
    assert isinstance(gold, _Chunk) and "36 hours" in gold.hit.text
    others = [c.hit for c in chunks if c.hit.source != gold.hit.source][:4]
    ctx, answer = _example(item, gold, others, False, _Prompt("cite", "rank", None))
    assert [h.id for h in ctx.hits] == [h.id for h in others[:3]] + [gold.hit.id]
    assert answer.endswith(" [4]") and "36 hours" in answer


def test_unanswerable_share_has_no_gold_excerpt(docs: Path):
    rows = make(docs, grounded_unanswerable=0.5)
    answers = answers_by_question(docs)
    fixed = [r for r in rows if r["messages"][2]["content"] == NOT_IN_EXCERPTS]
    assert abs(len(fixed) - round(len(rows) * 0.5)) <= 1 and fixed
    for row in fixed:
        blocks = excerpts(row["messages"][1]["content"])
        assert blocks  # still a retrieval prompt, just without the answer
        assert not any(a in b for a in answers[question_of(row)] for b in blocks.values())
    none = make(docs, grounded_unanswerable=0.0)
    assert not [r for r in none if r["messages"][2]["content"] == NOT_IN_EXCERPTS]


def test_excluded_questions_never_appear(docs: Path):
    rows = make(docs)
    questions = sorted({question_of(r) for r in rows})
    excluded = {question_key(q) for q in questions[::2]}
    kept = make(docs, exclude=excluded)
    assert kept and all(question_key(question_of(r)) not in excluded for r in kept)
    # (an excluded FAQ heading may still show in an excerpt's citation: that is the KB's text)
    assert len(kept) == len(rows) - len(excluded)


def test_deterministic_for_a_seed(docs: Path):
    assert make(docs, seed=3) == make(docs, seed=3)
    assert json.dumps(make(docs, seed=3)) != json.dumps(make(docs, seed=4))
    assert make(docs, grounded_max=0) == []


def test_build_data_adds_grounded_rows_and_honours_exclusions(docs: Path, tmp_path: Path):
    from edgekit.config import load_config

    cfg = tmp_path / "edgekit.yaml"
    refuge = next(q for q, a in answers_by_question(docs).items() if "20 people" in a)

    def build(data: str, exclude: set[str] | None = None) -> tuple[dict, list[dict]]:
        cfg.write_text(f"name: t\ndocs: docs\ndata: {{general: none, eval_fraction: 0.0{data}}}\n")
        out = tmp_path / f"data{len(data)}{bool(exclude)}"
        card = build_data(load_config(cfg), out, exclude_questions=exclude)
        rows = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
        return card.per_rule, [r for r in rows if r["rule"] == "grounded"]

    per_rule, grounded = build("")
    assert per_rule["grounded"] == len(grounded) > 0
    assert refuge in {question_of(r) for r in grounded}
    per_rule, grounded = build("", {question_key(refuge)})
    assert per_rule["grounded"] == len(grounded) > 0
    assert refuge not in {question_of(r) for r in grounded}
    per_rule, grounded = build(", grounded: false")
    assert "grounded" not in per_rule and not grounded and per_rule


def test_the_answer_span_is_a_whole_word_and_one_line():
    from edgekit.data.grounded import short_answer
    from edgekit.qa.evalset import QAItem

    pump = "The pump runs 15 minutes, then 5 more."
    five = QAItem("q1", "How many more minutes does the pump run?", ("5",), "docs/pump.md")
    assert short_answer(five, pump, 2) == '5\n\n"The pump runs 15 minutes, then **5** more." [2]'
    wrapped = QAItem("q2", "How long does it run first?", ("15\nminutes",), "docs/pump.md")
    assert short_answer(wrapped, pump, 1).startswith('15 minutes\n\n"The pump runs **15 minutes**')
    helmet = QAItem("q3", "井下必须佩戴什么？", ("安全帽",), "docs/zh.md")
    marked = '安全帽\n\n"井下必须佩戴**安全帽**。" [1]'
    assert short_answer(helmet, "井下必须佩戴安全帽。", 1) == marked
