"""edgekit.qa: QA evaluation sets from documents (md, docx, pdf made here) or a user's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.qa.evalset import (
    HEADING_SEP,
    QAItem,
    build_qa_set,
    generate_qa,
    load_qa_jsonl,
    question_id,
    read_qa_file,
    split_items,
    unanswerable_questions,
    write_qa_jsonl,
)
from edgekit.qa.facts import find_facts, trim_phrase

REPO = Path(__file__).resolve().parents[1]

HANDBOOK = """\
# Site Handbook

**Muster point**: the assembly area beside the main gate where everyone gathers after an alarm.

## Q: How long can a refuge chamber support people?

Each refuge chamber is rated to support 20 people for 36 hours. The door seals are checked
every week.

## Q: How do I report a fire?

Call the Control Room on radio channel 1, then leave by the nearest exit.

## Gas Limits

Hot work stops when methane reaches 0.5 percent.

Temporary stoppings may stay in place for no more than 30 days.

| Gas | Alarm |
|---|---|
| Methane | 1.0 % |

### Stench Gas

Stench gas is the mine-wide evacuation warning. Everyone walks out by the nearest intake route.
"""

TOOLS = """\
# Tool Store

## Opening Hours

The tool store opens at 06:00 on working days. Sign the register for every tool you take out
and bring your own tag.

## Returns

Damaged tools go back within 24 hours, with a tag that names the fault.
"""


def _docs(tmp_path: Path, files: dict[str, str]) -> Path:
    docs = tmp_path / "docs"
    for name, text in files.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text)
    return docs


def _by_question(items: list[QAItem]) -> dict[str, QAItem]:
    return {item.question: item for item in items}


def test_markdown_faq_definition_heading_and_sentence_items(tmp_path: Path) -> None:
    items = generate_qa(_docs(tmp_path, {"handbook.md": HANDBOOK}), max_items=100)
    got = _by_question(items)
    faq = got["How long can a refuge chamber support people?"]
    assert (faq.kind, faq.answers, faq.source, faq.page) == (
        "faq",
        ("36 hours",),
        "docs/handbook.md",
        None,
    )
    assert faq.section == "Site Handbook > Q: How long can a refuge chamber support people?"
    assert faq.evidence == "Each refuge chamber is rated to support 20 people for 36 hours."
    assert faq.id == question_id(faq.question) and len(faq.id) == 12
    fire = got["How do I report a fire?"]
    assert (fire.kind, fire.answers) == ("faq", ("Call the Control Room on radio channel 1",))
    muster = got["What does muster point mean?"]
    assert (muster.kind, muster.answers, muster.section) == (
        "definition",
        ("the assembly area beside the main gate",),
        "Site Handbook",
    )
    stench = got["What is stench gas, according to the Site Handbook document?"]
    assert (stench.kind, stench.answers) == ("heading", ("the mine-wide evacuation warning",))
    assert stench.section == HEADING_SEP.join(("Site Handbook", "Gas Limits", "Stench Gas"))
    methane = got[
        "According to the Gas Limits section, hot work stops when methane reaches what percentage?"
    ]
    assert (methane.kind, methane.answers) == ("sentence", ("0.5 percent",))
    assert methane.section == "Site Handbook > Gas Limits"
    assert got["How long may temporary stoppings stay in place?"].answers == ("30 days",)
    table = got["According to the table in the Gas Limits section, what is the alarm for methane?"]
    assert (table.answers, table.evidence) == (("1.0 %",), "Methane | 1.0 %")
    weekly = got["According to the Site Handbook document, the door seals are checked how often?"]
    assert weekly.answers == ("every week",)
    for item in items:  # the invariant every rule keeps: short verbatim spans of the evidence
        assert item.answerable and item.evidence and item.question.endswith("?")
        assert all(a in item.evidence and len(a.split()) <= 12 for a in item.answers)


def test_generation_is_deterministic_spread_and_capped(tmp_path: Path) -> None:
    docs = _docs(tmp_path, {"handbook.md": HANDBOOK, "sub/tools.md": TOOLS})
    first = generate_qa(docs, max_items=4, seed=3)
    assert first == generate_qa(docs, max_items=4, seed=3)
    assert len(first) == 4
    assert {i.source for i in first} == {"docs/handbook.md", "docs/sub/tools.md"}
    assert len({i.section for i in first}) == 4  # one per section before any section repeats
    everything = generate_qa(docs, max_items=100)
    assert len({i.id for i in everything}) == len(everything)
    tools = _by_question(everything)
    assert tools[
        "According to the Opening Hours section, the tool store opens at what time on working days?"
    ].answers == ("06:00",)


def test_docx_with_heading_styles(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("Forklift Rules", style="Title")
    d.add_heading("Speed Limits", level=1)
    d.add_paragraph("Forklifts must not exceed 10 km/h inside the warehouse.")
    d.add_heading("How often are batteries charged?", level=2)
    d.add_paragraph("Batteries are charged at the end of every shift in the charging bay.")
    docs = tmp_path / "docs"
    docs.mkdir()
    d.save(str(docs / "forklift.docx"))
    got = _by_question(generate_qa(docs))
    speed = got[
        "According to the Speed Limits section, forklifts must not exceed how many km/h "
        "inside the warehouse?"
    ]
    assert (speed.kind, speed.answers, speed.source) == (
        "sentence",
        ("10 km/h",),
        "docs/forklift.docx",
    )
    assert speed.section == "Forklift Rules > Speed Limits"
    faq = got["How often are batteries charged?"]
    assert (faq.kind, faq.answers) == ("faq", ("at the end of every shift",))
    assert faq.section == "Forklift Rules > Speed Limits > How often are batteries charged?"


def test_pdf_items_carry_their_page(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Roof Work")
    pdf.set_font("Helvetica", size=12)
    for text in (
        "Ladders must be inspected every 6 months by the site supervisor.",
        "Workers on the roof must stay at least 2 m from the edge.",
    ):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    docs = tmp_path / "docs"
    docs.mkdir()
    pdf.output(str(docs / "roof.pdf"))
    items = generate_qa(docs)
    found = {(i.answers, i.page, i.source, i.kind) for i in items}
    assert (("every 6 months",), 1, "docs/roof.pdf", "sentence") in found
    assert (("2 m",), 2, "docs/roof.pdf", "sentence") in found
    for item in items:
        assert "how often" in item.question or "how many metres" in item.question


def test_pdf_headings_from_font_sizes_become_item_sections(tmp_path: Path) -> None:
    """A PDF with a 16 pt heading over 11 pt body text: items name the recovered section."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Roof Work")
    pdf.add_page()
    for size, text in (
        (16, "Ladder Inspection"),
        (11, "Ladders must be inspected every 6 months by the site supervisor."),
        (16, "Edge Protection"),
        (11, "Workers on the roof must stay at least 2 m from the edge."),
    ):
        pdf.set_font("Helvetica", size=size)
        pdf.multi_cell(0, 8, text)
        pdf.ln(4)
    docs = tmp_path / "docs"
    docs.mkdir()
    pdf.output(str(docs / "roof.pdf"))
    found = {(i.answers, i.section, i.page) for i in generate_qa(docs)}
    assert (("every 6 months",), "Roof Work > Ladder Inspection", 1) in found
    assert (("2 m",), "Roof Work > Edge Protection", 1) in found


def test_mine_safety_example_items_are_grounded() -> None:
    docs = REPO / "examples" / "mine-safety" / "docs"
    items = generate_qa(docs)
    assert 40 <= len(items) <= 60
    kinds = {i.kind for i in items}
    assert {"faq", "definition", "sentence"} <= kinds
    assert len({i.source for i in items}) == 6
    texts = {p.name: p.read_text() for p in docs.iterdir()}
    for item in items:
        assert all(a in item.evidence for a in item.answers)
        assert item.source is not None and item.source.removeprefix("docs/") in texts


def test_fact_spans_and_trimming() -> None:
    text = "Test every 30 days, at 19.5 percent, 0.3 m3/s, 05:30 and 17:30, radio channel 1."
    assert [(f.type, f.text) for f in find_facts(text)] == [
        ("frequency", "every 30 days"),
        ("percent", "19.5 percent"),
        ("quantity", "0.3 m3/s"),
        ("time", "05:30 and 17:30"),
        ("code", "radio channel 1"),
    ]
    assert (
        trim_phrase("a point in intake air near the emergency, from which the team works and waits")
        == "a point in intake air near the emergency"
    )
    assert (
        trim_phrase(
            'Call "Emergency, emergency, emergency" on channel 1, or dial 222 from any phone'
        )
        == 'Call "Emergency, emergency, emergency" on channel 1'
    )
    assert trim_phrase("short answer.") == "short answer"


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_qa_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "eval" / "qa.jsonl",
        [
            json.dumps(
                {
                    "question": "How long?",
                    "answers": ["36 hours", "a day and a half"],
                    "source": "manual.pdf",
                    "page": 4,
                    "split": "dev",
                }
            ),
            "",
            json.dumps(
                {
                    "question": "Where is the tag board?",
                    "answer": "lamp room",
                    "source": "docs/sub/er.md",
                    "section": "ER > Tags",
                }
            ),
            json.dumps({"question": "What is the tax office number?", "answers": []}),
        ],
    )
    items = read_qa_file(path)
    assert [i.question for i in items] == [
        "How long?",
        "Where is the tag board?",
        "What is the tax office number?",
    ]
    first, second, third = items
    assert (first.answers, first.source, first.page, first.split) == (
        ("36 hours", "a day and a half"),
        "docs/manual.pdf",
        4,
        "dev",
    )
    assert (second.answers, second.source, second.section) == (
        ("lamp room",),
        "docs/sub/er.md",
        "ER > Tags",
    )
    assert not third.answerable and third.source is None
    assert {i.kind for i in items} == {"user"}
    assert {second.split, third.split} == {"dev", "test"}  # unsplit items are split


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"question": "Q?"}', 'add "answers"'),
        ('{"question": "", "answers": ["x"]}', '"question" must be a non-empty string'),
        ('{"question": "Q?", "answers": "x"}', '"answers" must be a list'),
        ('{"question": "Q?", "answers": ["x"], "page": "4"}', '"page" must be a page number'),
        ('{"question": "Q?", "answers": ["x"], "split": "train"}', '"split" must be one of'),
        ('{"question": "Q?", "anwser": "x"}', "unknown key(s) ['anwser']"),
        ('{"question": "First question?", "answers": ["y"]}', "the same question as line 1"),
    ],
    ids=["json", "object", "no-answer", "question", "answers", "page", "split", "key", "dup"],
)
def test_read_qa_file_names_file_line_and_fix(tmp_path: Path, line: str, needle: str) -> None:
    path = _write(
        tmp_path / "qa.jsonl", ['{"question": "First question?", "answers": ["x"]}', "", line]
    )
    with pytest.raises(EdgekitError) as info:
        read_qa_file(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert needle in str(info.value)


def _item(
    question: str, source: str | None, section: str | None, answers: tuple[str, ...] = ("x",)
) -> QAItem:
    kind = "sentence" if answers else "unanswerable"
    return QAItem(question_id(question), question, answers, source, section=section, kind=kind)


def test_split_is_deterministic_and_section_grouped() -> None:
    items = [
        _item(f"q{s}-{n}?", f"docs/d{s % 2}.md", f"T > S{s}") for s in range(6) for n in range(3)
    ]
    items += [_item(f"nobody knows {n}?", None, None, ()) for n in range(4)]
    split = split_items(items)
    assert split == split_items(items) and [i.id for i in split] == [i.id for i in items]
    assert split != split_items(items, seed=1)
    by_section: dict[tuple[str | None, str | None], set[str]] = {}
    for item in split:
        if item.answerable:
            by_section.setdefault((item.source, item.section), set()).add(item.split)
    assert all(len(splits) == 1 for splits in by_section.values())
    assert {i.split for i in split if i.answerable} == {"dev", "test"}
    assert sorted(i.split for i in split if not i.answerable) == ["dev", "dev", "test", "test"]
    assert 8 <= sum(i.split == "dev" for i in split) <= 14


def test_split_small_sets_fill_both_sides() -> None:
    one_section = [_item("a?", "docs/a.md", "A"), _item("b?", "docs/a.md", "A")]
    assert {i.split for i in split_items(one_section)} == {"dev", "test"}
    mixed = [_item("a?", "docs/a.md", "A"), _item("none?", None, None, ())]
    assert {i.split for i in split_items(mixed)} == {"dev", "test"}
    assert len(split_items([_item("a?", "docs/a.md", "A")])) == 1
    assert split_items([]) == []


def test_unanswerable_questions_skip_what_the_docs_cover() -> None:
    docs_text = "The staff canteen opens at 06:00 on Sundays. Visitor Wi-Fi password: ask security."
    every = unanswerable_questions(docs_text, n=100)
    questions = {i.question for i in every}
    assert "What time does the staff canteen open on Sundays?" not in questions
    assert "What is the Wi-Fi password for the visitor network?" not in questions
    assert "What is the phone number of the regional tax office?" in questions
    assert len(every) >= 15
    assert all(i.kind == "unanswerable" and i.answers == () and i.source is None for i in every)
    four = unanswerable_questions(docs_text, n=4, seed=7)
    assert len(four) == 4 and four == unanswerable_questions(docs_text, n=4, seed=7)


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    items = split_items(
        generate_qa(_docs(tmp_path, {"handbook.md": HANDBOOK}))
    ) + unanswerable_questions("")
    path = tmp_path / "out" / "qa.jsonl"
    write_qa_jsonl(path, items)
    assert load_qa_jsonl(path) == items
    assert all(
        isinstance(json.loads(line)["answers"], list) for line in path.read_text().splitlines()
    )


def test_build_uses_the_users_file_as_is(tmp_path: Path) -> None:
    docs = _docs(tmp_path, {"handbook.md": HANDBOOK})
    _write(
        tmp_path / "eval" / "qa.jsonl",
        ['{"question": "Q?", "answers": ["x"], "source": "handbook.md"}'],
    )
    items = build_qa_set(docs, tmp_path)
    assert [(i.question, i.source, i.kind) for i in items] == [("Q?", "docs/handbook.md", "user")]


def test_build_generates_splits_and_adds_unanswerable(tmp_path: Path) -> None:
    docs = _docs(tmp_path, {"handbook.md": HANDBOOK, "tools.md": TOOLS})
    items = build_qa_set(docs, tmp_path, max_items=30)
    assert {i.split for i in items} == {"dev", "test"}
    unanswerable = [i for i in items if not i.answerable]
    assert len(unanswerable) == 2 and {i.kind for i in unanswerable} == {"unanswerable"}
    assert len(items) == len({i.id for i in items})


def test_teacher_items_are_kept_only_when_grounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgekit.generate as generate

    class FakeTeacher:
        id = "fake-teacher"

        def generate(self, batch: list[list[dict[str, str]]], max_new_tokens: int) -> list[str]:
            out = []
            for messages in batch:
                if "tool store opens" in messages[0]["content"]:
                    out.append("Q: When can workers collect tools on working days?\nA: at 06:00")
                else:
                    out.append("Q: What colour is the gate?\nA: bright purple")
            return out

    monkeypatch.setattr(generate, "make_generator", lambda spec: FakeTeacher())
    docs = _docs(tmp_path, {"tools.md": TOOLS, "handbook.md": HANDBOOK})
    items = generate_qa(docs, teacher="fake", cache=tmp_path / "cache.jsonl", max_items=100)
    taught = [i for i in items if i.kind == "teacher"]
    assert [(i.question, i.answers, i.evidence) for i in taught] == [
        (
            "When can workers collect tools on working days?",
            ("at 06:00",),
            "The tool store opens at 06:00 on working days.",
        )
    ]
    assert (tmp_path / "cache.jsonl").is_file()


def test_heading_separator_matches_the_knowledge_base() -> None:
    from edgekit.kb.records import HEADING_SEP as KB_SEP

    assert HEADING_SEP == KB_SEP
