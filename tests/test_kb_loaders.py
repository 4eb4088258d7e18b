"""edgekit.kb.loaders: every fixture is generated here (md/txt/html text, fpdf2 PDF, docx)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.kb.loaders import (
    SUPPORTED_SUFFIXES,
    Document,
    LoaderError,
    Section,
    iter_documents,
    load_document,
)

MARKDOWN = """\
Read this before going underground.

# Gas Monitoring

Every shift   checks the
detectors with **great** care and `gasctl`.

## Methane

**Flammable range**: 5% to 15% in air.
**Source:** strata and old workings.

- Evacuate at 1%
- Isolate power
  immediately

```bash
# not a heading
gasctl --check
```

### Action levels

| Level | Action |
|-------|--------|
| 0.25% | Investigate |

## Carbon monoxide

Limit is 30 ppm over a shift.

# Appendix

Contacts.
"""


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _pairs(doc: Document) -> list[tuple[tuple[str, ...], str]]:
    return [(s.heading_path, s.text) for s in doc.sections]


def test_markdown_heading_paths_text_and_code_fence(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "gas.md", MARKDOWN))
    assert doc.title == "Gas Monitoring"
    assert _pairs(doc) == [
        (("Gas Monitoring",), "Read this before going underground."),
        (("Gas Monitoring",), "Every shift checks the detectors with great care and gasctl."),
        (
            ("Gas Monitoring", "Methane"),
            "Flammable range: 5% to 15% in air.\nSource: strata and old workings."
            "\n\n- Evacuate at 1%\n- Isolate power immediately"
            "\n\n# not a heading\ngasctl --check",
        ),
        (("Gas Monitoring", "Methane", "Action levels"), "Level | Action\n0.25% | Investigate"),
        (("Gas Monitoring", "Carbon monoxide"), "Limit is 30 ppm over a shift."),
        (("Appendix",), "Contacts."),
    ]
    assert all(s.page is None for s in doc.sections)
    assert "not a heading" not in {name for s in doc.sections for name in s.heading_path}


def test_markdown_without_h1_roots_paths_at_stem_and_tilde_fence(tmp_path: Path) -> None:
    text = "## Scope\n\n~~~\n## inside fence\n~~~\n\n## Empty\n\n## Limits\n\nSee table.\n"
    doc = load_document(_write(tmp_path / "Notes.MARKDOWN", text))
    assert doc.title == "Notes"
    assert _pairs(doc) == [
        (("Notes", "Scope"), "## inside fence"),
        (("Notes", "Limits"), "See table."),  # "Empty" has no text: dropped
    ]


def test_txt_single_section_with_paragraphs_and_setext_heading(tmp_path: Path) -> None:
    text = "First paragraph\nwraps here.\n\n\nSecond   paragraph.\n\n"
    text += "Procedures\n==========\nStep text.\n"
    doc = load_document(_write(tmp_path / "shift notes.txt", text))
    assert doc.title == "shift notes"
    assert _pairs(doc) == [
        (("shift notes",), "First paragraph wraps here.\n\nSecond paragraph."),
        (("shift notes", "Procedures"), "Step text."),
    ]


def test_a_plain_text_table_keeps_one_row_per_line(tmp_path: Path) -> None:
    """From real man pages (man-db zh_CN, realdocs): columns set apart by runs of spaces
    are a table, one row a line with its cells joined by " | " and the rule line dropped;
    before, the rows ran into one line ("1 可执行程序 2 系统调用 ... 8 系统管理命令")."""
    text = (
        "下表显示了手册的章节号及其包含的手册页类型。\n\n"
        "1   可执行程序或 shell 命令\n2   系统调用(内核提供的函数)\n"
        "8   系统管理命令(通常只针对 root 用户)\n\n"
        "名称          异步   文件名\n─────────────────────\n"
        "Berkeley db   是     index.bt\nGNU gdbm      是     index.db\n\n"
        "Prose ends here.  It wraps\nonto a second line.  And stops.\n"
    )
    for name in ("man.md", "man.txt"):
        doc = load_document(_write(tmp_path / name, text))
        assert doc.sections[0].text.split("\n\n") == [
            "下表显示了手册的章节号及其包含的手册页类型。",
            "1 | 可执行程序或 shell 命令\n2 | 系统调用(内核提供的函数)\n"
            "8 | 系统管理命令(通常只针对 root 用户)",
            "名称 | 异步 | 文件名\nBerkeley db | 是 | index.bt\nGNU gdbm | 是 | index.db",
            "Prose ends here. It wraps onto a second line. And stops.",
        ]


def test_txt_markdown_syntax_is_plain_text(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "raw.txt", "# not a heading\n\n**kept**\n"))
    assert _pairs(doc) == [(("raw",), "# not a heading\n\n**kept**")]


def test_html_headings_skips_and_entities(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>Gas &amp; Air Manual</title>
<style>p { color: red }</style><script>var hidden = "script text";</script></head>
<body><nav><a href="/">Home nav</a></nav><header>Site header</header>
<h1>Gas Monitoring</h1><p>Check&nbsp;detectors
   at &lt;every&gt; shift.</p>
<h2>Methane</h2><ul><li>Evacuate at <b>1%</b></li><li>Isolate power</li></ul>
<table><tr><th>Level</th><th>Action</th></tr><tr><td>0.25%</td><td>Investigate</td></tr></table>
<div>Loose div text.</div>
<h3>Notes</h3><blockquote>Quoted rule.</blockquote><pre>line one
    line two</pre>
<h2>Carbon monoxide</h2><p>Limit 30 ppm.</p>
<noscript>Enable JS</noscript><footer>Copyright</footer></body></html>"""
    doc = load_document(_write(tmp_path / "gas.HTM", html))
    assert doc.title == "Gas & Air Manual"
    assert _pairs(doc) == [
        (("Gas Monitoring",), "Check detectors at <every> shift."),
        (
            ("Gas Monitoring", "Methane"),
            "- Evacuate at 1%\n- Isolate power\n\nLevel | Action\n0.25% | Investigate"
            "\n\nLoose div text.",
        ),
        (("Gas Monitoring", "Methane", "Notes"), "Quoted rule.\n\nline one\nline two"),
        (("Gas Monitoring", "Carbon monoxide"), "Limit 30 ppm."),
    ]
    everything = " ".join(s.text for s in doc.sections)
    for skipped in ("script text", "Home nav", "Site header", "Enable JS", "Copyright", "color"):
        assert skipped not in everything


def test_html_title_falls_back_to_first_h1(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "page.html", "<h1>Ventilation</h1><p>Fans.</p>"))
    assert doc.title == "Ventilation"
    assert _pairs(doc) == [(("Ventilation",), "Fans.")]


def test_html_optional_end_tags_and_nested_lists(tmp_path: Path) -> None:
    html = (
        "<h1>Checks</h1><ul><li>Lamp<li>Rescuer<ul><li>Seal</li></ul></ul><p>After list."
        "<table><tr><td>CO<td>30<tr><td>CH4<td>1%</table><p>After table."
    )
    doc = load_document(_write(tmp_path / "loose.html", html))
    assert _pairs(doc) == [
        (
            ("Checks",),
            "- Lamp\n- Rescuer\n- Seal\n\nAfter list.\n\nCO | 30\nCH4 | 1%\n\nAfter table.",
        )
    ]


def _make_pdf(path: Path, title: str | None, pages: list[str], password: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def test_pdf_one_section_per_page(tmp_path: Path) -> None:
    pages = ["Methane alarms sound at one percent.", "", "Carbon monoxide limit is thirty ppm."]
    doc = load_document(_make_pdf(tmp_path / "manual.pdf", "Site Safety Manual", pages))
    assert doc.title == "Site Safety Manual"
    assert [(s.heading_path, s.page) for s in doc.sections] == [
        (("Site Safety Manual",), 1),
        (("Site Safety Manual",), 3),  # the blank page 2 is dropped
    ]
    assert doc.sections[0].text == "Methane alarms sound at one percent."
    assert doc.sections[1].text == "Carbon monoxide limit is thirty ppm."


def test_pdf_without_metadata_title_uses_stem(tmp_path: Path) -> None:
    doc = load_document(_make_pdf(tmp_path / "two-pages.pdf", None, ["Page one.", "Page two."]))
    assert doc.title == "two-pages"
    assert [(s.heading_path, s.page, s.text) for s in doc.sections] == [
        (("two-pages",), 1, "Page one."),
        (("two-pages",), 2, "Page two."),
    ]


def test_pdf_with_user_password_is_a_loader_error(tmp_path: Path) -> None:
    path = _make_pdf(tmp_path / "locked.pdf", "Locked", ["Secret text."], password="pw")
    with pytest.raises(LoaderError, match="encrypted") as info:
        load_document(path)
    assert info.value.path == path.resolve()
    assert str(info.value).startswith(str(path.resolve()))


def test_a_scanned_pdf_is_an_error_that_says_ocr_and_a_half_scanned_one_warns(
    tmp_path: Path,
) -> None:
    from edgekit.kb.ingest import ingest_folder

    docs = tmp_path / "docs"
    docs.mkdir()
    scanned = _make_pdf(docs / "scanned.pdf", "Scanned", ["", "", ""])
    ocr = "OCR it first (for example `ocrmypdf in.pdf out.pdf` adds a text layer)"
    with pytest.raises(LoaderError, match=r"no text on any of its 3 page\(s\)") as info:
        load_document(scanned)
    assert str(info.value).endswith(f": a scanned PDF? {ocr}")
    title = "Pump Station Manual, revision 4, issued by the engineering office."
    cover = [title, "", "", ""]  # a typed cover over a scanned body
    doc = load_document(_make_pdf(docs / "cover.pdf", "Pumps", cover))
    assert [s.text for s in doc.sections] == [cover[0]]
    assert doc.warnings == (f"readable text on only 1 of its 4 pages (scanned?): {ocr}",)
    stamped = ["Scanned with CamScanner"] * 4  # the scanner app's stamp is all the text
    warned = load_document(_make_pdf(docs / "stamped.pdf", "Stamped", stamped)).warnings
    assert warned == (f"readable text on only 0 of its 4 pages (scanned?): {ocr}",)
    typed = [title, "", title, ""]  # half the pages: blank ones are normal
    assert load_document(_make_pdf(docs / "typed.pdf", "Typed", typed)).warnings == ()
    kb, report = ingest_folder(docs, tmp_path / "kb")
    kb.close()
    assert report.added == ["cover.pdf", "stamped.pdf", "typed.pdf"]
    assert report.errors == [str(info.value)]
    assert report.warnings == [
        f"{docs.resolve() / 'cover.pdf'}: {doc.warnings[0]}",
        f"{docs.resolve() / 'stamped.pdf'}: {warned[0]}",
    ]


def test_docx_styles_lists_and_tables(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("Preamble before the title.")
    d.add_paragraph("Gas Monitoring", style="Title")
    d.add_heading("Methane", level=1)
    d.add_paragraph("Detectors   are checked each shift.")
    d.add_heading("Action levels", level=2)
    d.add_paragraph("Evacuate at 1%", style="List Bullet")
    d.add_paragraph("Isolate power", style="List Number")
    table = d.add_table(rows=2, cols=3)
    for r, row in enumerate([["Gas", "Limit", "Unit"], ["CO", "30", "ppm"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_heading("Ventilation", level=1)
    d.add_paragraph("Fans run continuously.")
    path = tmp_path / "gas.docx"
    d.save(str(path))

    doc = load_document(path)
    assert doc.title == "Gas Monitoring"
    assert _pairs(doc) == [
        (("Gas Monitoring",), "Preamble before the title."),
        (("Gas Monitoring", "Methane"), "Detectors are checked each shift."),
        (
            ("Gas Monitoring", "Methane", "Action levels"),
            "- Evacuate at 1%\n- Isolate power\n\nGas | Limit | Unit\nCO | 30 | ppm",
        ),
        (("Gas Monitoring", "Ventilation"), "Fans run continuously."),
    ]


def test_docx_without_title_uses_first_heading_1(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Emergency Exits", level=1)
    d.add_paragraph("Follow the green signs.")
    path = tmp_path / "exits.docx"
    d.save(str(path))
    doc = load_document(path)
    assert doc.title == "Emergency Exits"
    assert _pairs(doc) == [(("Emergency Exits",), "Follow the green signs.")]


def test_sha256_path_and_types(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.md", "# T\n\nBody.\n")
    doc = load_document(tmp_path / "." / "a.md")
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.path == path.resolve() and doc.path.is_absolute()
    assert doc.sections == (Section(("T",), "Body.", None),)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.xyz", "hello", "unsupported file type '.xyz'"),
        ("broken.pdf", b"%PDF-1.4 not really a pdf", "not a readable PDF file"),
        ("broken.docx", "plain text, not a zip", "not a readable DOCX file"),
        ("missing.md", None, "cannot read file"),
        ("latin.txt", b"\x81\x8d\x8f", "not valid UTF-8"),
    ],
)
def test_failures_are_loader_errors(
    tmp_path: Path, name: str, content: str | bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if content is not None:
        _write(path, content)
    with pytest.raises(LoaderError) as info:
        load_document(path)
    assert isinstance(info.value, EdgekitError)
    assert info.value.path == path.resolve()
    assert str(info.value).startswith(f"{path.resolve()}: ")
    assert reason in str(info.value)


def test_cp1252_text_is_decoded(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "win.txt", "Temp 20\u00b0C \u2013 ok".encode("cp1252")))
    assert doc.sections[0].text == "Temp 20\u00b0C \u2013 ok"


def test_iter_documents_sorted_skips_hidden_and_reports_bad_files(tmp_path: Path) -> None:
    rng = random.Random(1234)
    _write(tmp_path / "b_guide.md", "# Guide\n\nGood text.\n")
    _write(tmp_path / "a_dir" / "z_broken.pdf", rng.randbytes(2048))
    _write(tmp_path / "a_dir" / "m_notes.TXT", "Nested notes.\n")
    _write(tmp_path / "c_broken.docx", "this is not a zip file")
    _write(tmp_path / ".hidden.md", "# Hidden\n\nnope\n")
    _write(tmp_path / ".cache" / "inside.md", "# Cached\n\nnope\n")
    _write(tmp_path / "~$lock.docx", b"\x00owner")
    _write(tmp_path / "data.xyz", "ignored")

    results = list(iter_documents(tmp_path))

    names = [r.path.name for r in results]
    assert names == ["m_notes.TXT", "z_broken.pdf", "b_guide.md", "c_broken.docx"]
    errors = [r for r in results if isinstance(r, LoaderError)]
    assert [e.path.name for e in errors] == ["z_broken.pdf", "c_broken.docx"]
    assert "z_broken.pdf" in str(errors[0]) and "c_broken.docx" in str(errors[1])
    good = [r for r in results if isinstance(r, Document)]
    assert [d.title for d in good] == ["m_notes", "Guide"]
    assert good[1].sections[0].text == "Good text."


def test_iter_documents_rejects_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="not a directory"):
        list(iter_documents(tmp_path / "nope"))


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")
