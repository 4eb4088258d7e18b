"""Knowledge base on a real Chroma database: ingest every format, retrieve, update, deltas."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.kb.delta import apply_delta, export_delta
from edgekit.kb.ingest import ingest_folder
from edgekit.kb.store import KB_FILE, KnowledgeBase

GAS = """# Gas Monitoring

Gas detectors protect every crew underground.

## Methane

Methane is lighter than air and collects in the roof of headings.
At 1.25 percent methane all power is isolated and the crew withdraws to intake air.

## Carbon Monoxide

Carbon monoxide comes from diesel exhaust and fires. The limit is 30 ppm over eight hours.
"""

FAN = """Fan maintenance

Auxiliary fans are inspected every week by the ventilation officer.
A stopped fan must run for fifteen minutes before anyone re-enters the heading.
"""

HTML = """<html><head><title>Refuge Chambers</title></head><body>
<h1>Refuge Chambers</h1><h2>Capacity</h2>
<p>Each refuge chamber supports twenty people for thirty-six hours.</p>
<h2>Doors</h2><p>Close the airlock door behind you before opening the inner door.</p>
</body></html>"""


def make_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Scaling bars are inspected at the start of every shift.")
    pdf.add_page()
    pdf.multi_cell(0, 8, "Shotcrete must cure for four hours before anyone works beneath it.")
    pdf.output(str(path))


def make_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Explosives Handbook", level=0)
    d.add_heading("Misfires", level=1)
    d.add_paragraph("Wait thirty minutes after firing before approaching a suspected misfire.")
    d.add_heading("Storage", level=1)
    d.add_paragraph("Detonators are stored in a separate locked magazine from explosives.")
    d.save(str(path))


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    (folder / "gas.md").write_text(GAS)
    (folder / "fans.txt").write_text(FAN)
    (folder / "refuge.html").write_text(HTML)
    make_pdf(folder / "ground.pdf")
    make_docx(folder / "explosives.docx")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf \x00\xff")
    return folder


@pytest.fixture(scope="module")
def kb(docs: Path, tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("kb") / "kb"
    kbase, report = ingest_folder(docs, db, prefix="docs/", chunk_tokens=64, overlap_tokens=16)
    return kbase, report


def top(kbase: KnowledgeBase, question: str):
    return kbase.query(question, k=3)[0]


def test_every_format_ingests_and_the_corrupt_file_is_named(kb):
    kbase, report = kb
    assert sorted(report.added) == [
        "docs/explosives.docx",
        "docs/fans.txt",
        "docs/gas.md",
        "docs/ground.pdf",
        "docs/refuge.html",
    ]
    assert len(report.errors) == 1 and "broken.pdf" in report.errors[0]
    stats = kbase.stats()
    assert stats["documents"] == 5 and stats["chunks"] >= 7


@pytest.mark.parametrize(
    "question, source, heading, page",
    [
        (
            "At what methane level does the crew withdraw?",
            "docs/gas.md",
            "Gas Monitoring > Methane",
            None,
        ),
        (
            "How many people can a refuge chamber hold?",
            "docs/refuge.html",
            "Refuge Chambers > Capacity",
            None,
        ),
        ("How long must shotcrete cure?", "docs/ground.pdf", None, 2),
        (
            "How long to wait before approaching a misfire?",
            "docs/explosives.docx",
            "Explosives Handbook > Misfires",
            None,
        ),
        ("How often are auxiliary fans inspected?", "docs/fans.txt", None, None),
    ],
)
def test_query_returns_the_right_chunk_with_heading_and_page(kb, question, source, heading, page):
    hit = top(kb[0], question)
    assert hit.source == source
    if heading:
        assert hit.heading == heading
    assert hit.page == page
    assert hit.citation().startswith(source)


def test_each_retrieval_mode_works(kb):
    kbase, _ = kb
    for mode in ("bm25", "vector", "hybrid"):
        hit = kbase.query("carbon monoxide limit diesel exhaust", k=2, mode=mode)[0]
        assert "30 ppm" in hit.text, mode


def test_section_text_maps_a_chunk_back_to_its_section(kb):
    kbase, _ = kb
    hit = top(kbase, "methane withdraws intake air")
    section = kbase.section_text(hit)
    assert "lighter than air" in section and "1.25 percent" in section
    assert "Carbon monoxide" not in section


def test_reingest_embeds_only_changed_and_deletes_removed(docs: Path, tmp_path: Path):
    folder = tmp_path / "docs"
    shutil.copytree(docs, folder)
    db = tmp_path / "kb"
    ingest_folder(folder, db, chunk_tokens=64, overlap_tokens=16)
    again = ingest_folder(folder, db, chunk_tokens=64, overlap_tokens=16)[1]
    assert again.embedded_documents == [] and again.chunks_embedded == 0
    (folder / "fans.txt").write_text(FAN.replace("every week", "every day"))
    (folder / "refuge.html").unlink()
    kbase, report = ingest_folder(folder, db, chunk_tokens=64, overlap_tokens=16)
    assert report.embedded_documents == ["fans.txt"]
    assert report.removed == ["refuge.html"]
    assert "every day" in top(kbase, "How often are auxiliary fans inspected?").text
    assert all(h.source != "refuge.html" for h in kbase.query("refuge chamber capacity", k=10))


def test_delta_gives_the_same_results_as_a_fresh_ingest(docs: Path, tmp_path: Path):
    folder = tmp_path / "docs"
    shutil.copytree(docs, folder)
    old, new = tmp_path / "old", tmp_path / "new"
    ingest_folder(folder, old, chunk_tokens=64, overlap_tokens=16)
    (folder / "gas.md").write_text(GAS.replace("30 ppm", "25 ppm"))
    (folder / "fans.txt").unlink()
    (folder / "cages.md").write_text("# Cages\n\nThe cage carries at most 40 people per trip.\n")
    ingest_folder(folder, new, chunk_tokens=64, overlap_tokens=16)
    site = tmp_path / "site"
    shutil.copytree(old, site)
    summary = export_delta(old, new, tmp_path / "update.ekdelta")
    assert summary["added"] == ["cages.md"] and summary["changed"] == ["gas.md"]
    assert summary["removed"] == ["fans.txt"]
    applied = apply_delta(site, tmp_path / "update.ekdelta")
    assert applied["chunks"] == summary["chunks"]
    fresh, patched = KnowledgeBase.open(new), KnowledgeBase.open(site)
    assert patched.documents() == fresh.documents()
    for q in [
        "carbon monoxide limit",
        "How many people does the cage carry?",
        "auxiliary fan inspection",
        "refuge chamber",
    ]:
        assert [h.id for h in patched.query(q, k=4)] == [h.id for h in fresh.query(q, k=4)]
    assert apply_delta(site, tmp_path / "update.ekdelta").get("already_applied")
    # a delta from another embedder is refused before anything changes
    data = json.loads(gzip.decompress((tmp_path / "update.ekdelta").read_bytes()))
    data["embedder_fingerprint"] = "0" * 64
    (tmp_path / "other.ekdelta").write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(EdgekitError, match="made with embedder"):
        apply_delta(old, tmp_path / "other.ekdelta")
    assert KnowledgeBase.open(old).documents() != fresh.documents()


def test_kb_json_stores_no_absolute_paths_and_collection_keeps_our_function(kb):
    kbase, _ = kb
    settings = json.loads((kbase.dir / KB_FILE).read_text())
    assert not any(isinstance(v, str) and v.startswith("/") for v in settings.values())
    model = kbase.collection.configuration_json["embedding_function"]
    assert model["name"] == "edgekit-onnx" and model["config"] == {"model": "embedder"}


def test_bad_collection_name_is_refused(tmp_path: Path, kb):
    kbase, _ = kb
    with pytest.raises(EdgekitError, match="3-512"):
        KnowledgeBase.create(tmp_path / "x", kbase.dir / "embedder", collection="ab")
