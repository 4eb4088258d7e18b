"""QA sets with power (issue 22): about one generated question per page of a manual, in
the kinds a worker asks (which function, what does it return, which option, what is the
default, which file or command, how many), from a technical PDF made here with fpdf2."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from edgekit.qa.evalset import build_qa_set
from edgekit.qa.passage import Passage
from edgekit.qa.spread import MIN_ITEMS, target_items

NAMES = None  # target_items reads only the passages

FUNCTIONS = (
    ("ek_open_store", "Opens the store kept in the folder path.", "the folder does not exist"),
    ("ek_close_store", "Closes the store and flushes its journal.", "the journal is full"),
    ("ek_compact_store", "Compacts the segments of the store.", "a segment is locked"),
    ("ek_copy_record", "Copies one record into the second store.", "the key is taken"),
    ("ek_delete_record", "Deletes the record named by the key.", "the key is unknown"),
    ("ek_list_keys", "Lists the keys that start with the prefix.", "the prefix is empty"),
    ("ek_export_store", "Exports the store as one archive file.", "the disk is full"),
    ("ek_import_store", "Imports an archive file into an empty store.", "the archive is damaged"),
)
PAGES = [
    (
        name.replace("_", " "),
        f"[Function]int {name} (ek store * store, const char * key) store: the open store. "
        f"key: the record key. {what} Returns: EK_OK if done, "
        f"EK_{name.upper()[3:]}_FAILED if {why}.",
    )
    for name, what, why in FUNCTIONS
] + [
    (
        "Invoking ekctl",
        "Usage: ekctl [OPTION] FILE -c, --compact compacts the store before exit "
        "-q, --quiet prints nothing but errors",
    ),
    (
        "Network",
        "When no port is set, the server uses the default port of 8470 for plain "
        "connections. Clients retry once after a timeout.",
    ),
    (
        "Schema changes",
        "After changing the schema, the operator must run the ekctl-migrate-schema command "
        "before the server starts again.",
    ),
    (
        "Replication",
        "There are three replicas for each shard in a standard cluster. A replica that "
        "falls behind is rebuilt from the leader.",
    ),
]


def _manual(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Ekstore Reference")
    for heading, body in PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", size=16)
        pdf.multi_cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 7, body, new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def test_a_technical_pdf_gets_a_question_on_every_page(tmp_path: Path) -> None:
    _manual(tmp_path / "docs" / "ekstore.pdf")
    items = build_qa_set(tmp_path / "docs", tmp_path, max_items=120)
    answerable = [i for i in items if i.answerable]
    assert {i.page for i in answerable} == set(range(1, len(PAGES) + 1))  # every page
    assert len(answerable) >= len(PAGES)
    kinds = Counter(i.kind for i in answerable)
    assert {"function", "option", "default", "identifier", "count"} <= set(kinds), kinds
    found = {(i.question, i.answers) for i in answerable}
    assert ("Which function compacts the segments of the store?", ("ek_compact_store",)) in found
    assert ("Which ekctl option compacts the store before exit?", ("--compact",)) in found
    assert ("What is the default port for plain connections?", ("8470",)) in found
    assert (
        "How many replicas are there for each shard in a standard cluster?",
        ("three replicas",),
    ) in found
    assert any(
        i.answers == ("ekctl-migrate-schema",) and "which command" in i.question for i in answerable
    )
    for item in answerable:
        assert all(a in (item.evidence or "") for a in item.answers), item
    assert {i.split for i in items} == {"dev", "test"}  # still split by section


def _passages(pages: int | None, words: int = 0) -> list[Passage]:
    if pages is None:
        return [Passage("docs/a.md", "A", ("A",), None, "word " * words, 0)]
    return [Passage("docs/a.pdf", "A", ("A",), n, "text", n) for n in range(1, pages + 1)]


def test_question_count_follows_pages_with_a_floor_and_the_cap() -> None:
    def target(*docs: list[Passage], cap: int = 1000) -> int:
        return target_items([(d, NAMES) for d in docs], cap)  # type: ignore[misc]

    assert target(_passages(53)) == MIN_ITEMS == 60  # at least 60 for a 50-page manual
    assert target(_passages(90)) == 90  # about one per page
    assert target(_passages(90), _passages(None, words=40 * 400)) == 130  # docx/md: 400 words
    assert target(_passages(200), cap=120) == 120  # eval.qa.max_items caps it
    assert target(_passages(3), cap=20) == 20  # a small example keeps its own cap
