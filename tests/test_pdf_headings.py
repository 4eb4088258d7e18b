"""edgekit.kb.pdf_layout: PDF headings recovered from font size and weight (fpdf2 fixtures)."""

from __future__ import annotations

from pathlib import Path

from edgekit.kb.loaders import load_document
from edgekit.kb.pdf_layout import PageText, page_events

# One fixture step: (size, style, text) writes a block; ("page",) starts a new page.
Step = tuple[object, ...]


def _make_pdf(path: Path, steps: list[Step], title: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    for step in steps:
        if step == ("page",):
            pdf.add_page()
            continue
        size, style, text = step
        pdf.set_font("Helvetica", str(style), size=float(size))
        markdown = "**" in str(text)
        pdf.multi_cell(0, 7, str(text), new_x="LMARGIN", new_y="NEXT", markdown=markdown)
    pdf.output(str(path))
    return path


def _sections(path: Path) -> list[tuple[tuple[str, ...], int | None, str]]:
    return [(s.heading_path, s.page, s.text) for s in load_document(path).sections]


LONG = "Each detector is bump tested with calibration gas before the shift goes underground. " * 3


def test_sizes_rank_title_sections_and_keep_pages(tmp_path: Path) -> None:
    steps: list[Step] = [
        ("page",),
        (18, "", "Mine Safety Handbook"),
        (11, "", "Read this before going underground."),
        (14, "", "Gas Monitoring"),
        (11, "", LONG),
        (14, "", "A lead paragraph at section size is far too long to be any kind of heading."),
        (14, "", "Refuge Chambers"),
        (11, "", "Chambers hold twenty people."),
        ("page",),
        (11, "", "They are restocked every month."),
        (14, "", "Ventilation"),
        (11, "", "Fans run all shift."),
    ]
    path = _make_pdf(tmp_path / "handbook.pdf", steps)
    assert load_document(path).title == "Mine Safety Handbook"
    title, gas = ("Mine Safety Handbook",), ("Mine Safety Handbook", "Gas Monitoring")
    refuge = ("Mine Safety Handbook", "Refuge Chambers")
    lead = "A lead paragraph at section size is far too long to be any kind of heading."
    assert _sections(path) == [
        (title, 1, "Read this before going underground."),
        (gas, 1, LONG.strip() + " " + lead),
        (refuge, 1, "Chambers hold twenty people."),
        (refuge, 2, "They are restocked every month."),  # continues on page 2
        (("Mine Safety Handbook", "Ventilation"), 2, "Fans run all shift."),
    ]


def test_numbering_depth_nests_headings_of_one_size(tmp_path: Path) -> None:
    steps: list[Step] = [
        ("page",),
        (14, "", "2 Ventilation"),
        (11, "", "Fans run all shift."),
        (14, "", "2.1 Auxiliary Fans"),
        (11, "", "Auxiliary fans are checked daily."),
        ("page",),
        (14, "", "3. Ground Control"),
        (11, "", "Bolts are tested weekly."),
    ]
    path = _make_pdf(tmp_path / "numbered.pdf", steps, title="Site Manual")
    assert load_document(path).title == "Site Manual"
    assert [(s.heading_path, s.page) for s in load_document(path).sections] == [
        (("Site Manual", "2 Ventilation"), 1),
        (("Site Manual", "2 Ventilation", "2.1 Auxiliary Fans"), 1),
        (("Site Manual", "3. Ground Control"), 2),
    ]


def test_bold_line_at_body_size_is_the_lowest_heading(tmp_path: Path) -> None:
    bold_long = "Never enter a sealed area without a permit and a second person standing by."
    steps: list[Step] = [
        ("page",),
        (16, "", "Emergency Response"),
        (11, "", "Alarms are tested weekly."),
        (11, "B", "Refuge Chambers"),
        (11, "", "**Note:** keep the door sealed."),
        (11, "B", bold_long),
        (11, "", "Chambers hold twenty people for 36 hours."),
    ]
    path = _make_pdf(tmp_path / "emergency.pdf", steps)
    assert load_document(path).title == "Emergency Response"
    sub = ("Emergency Response", "Refuge Chambers")
    assert _sections(path) == [
        (("Emergency Response",), 1, "Alarms are tested weekly."),
        (
            sub,
            1,
            f"Note: keep the door sealed. {bold_long} Chambers hold twenty people for 36 hours.",
        ),
    ]


def test_bold_headings_without_title_sit_under_the_file_title(tmp_path: Path) -> None:
    steps: list[Step] = [
        ("page",),
        (11, "B", "Lamps"),
        (11, "", "Cap lamps are charged overnight."),
        (11, "B", "Self Rescuers"),
        (11, "", "Self rescuers are worn at all times."),
    ]
    path = _make_pdf(tmp_path / "kit.pdf", steps)
    assert load_document(path).title == "kit"
    assert _sections(path) == [
        (("kit", "Lamps"), 1, "Cap lamps are charged overnight."),
        (("kit", "Self Rescuers"), 1, "Self rescuers are worn at all times."),
    ]


def test_running_header_on_every_page_is_not_a_heading(tmp_path: Path) -> None:
    steps: list[Step] = []
    for number, topic in enumerate(["Lamps", "Fans", "Bolts"], 1):
        steps += [("page",), (11, "B", "ACME Mine"), (14, "", topic), (11, "", f"Page {number}.")]
    path = _make_pdf(tmp_path / "acme.pdf", steps)
    assert _sections(path) == [  # the header stays text, before each page's heading
        (("acme",), 1, "ACME Mine"),
        (("acme", "Lamps"), 1, "Page 1."),
        (("acme", "Lamps"), 2, "ACME Mine"),
        (("acme", "Fans"), 2, "Page 2."),
        (("acme", "Fans"), 3, "ACME Mine"),
        (("acme", "Bolts"), 3, "Page 3."),
    ]


def test_single_font_size_parses_like_before(tmp_path: Path) -> None:
    steps: list[Step] = [
        ("page",),
        (11, "", "Short line"),
        (11, "", "Methane alarms sound at one percent."),
        ("page",),
        (11, "", "Carbon Monoxide"),
        (11, "", "The limit is thirty ppm."),
    ]
    path = _make_pdf(tmp_path / "plain.pdf", steps, title="Gas Limits")
    assert _sections(path) == [
        (("Gas Limits",), 1, "Short line Methane alarms sound at one percent."),
        (("Gas Limits",), 2, "Carbon Monoxide The limit is thirty ppm."),
    ]


def test_no_font_information_splits_pages_on_blank_lines() -> None:
    pages = [PageText("Big Title\nfirst para\n \nsecond para"), PageText("")]
    assert page_events(pages) == [
        ("pg", 1, []),
        ("b", 0, ["Big Title\nfirst para"]),
        ("b", 0, ["second para"]),
        ("pg", 2, []),
        ("b", 0, [""]),
    ]


def test_text_printed_twice_is_read_once_and_as_bold(tmp_path: Path) -> None:
    """Chromium prints a bold heading of a regular font twice, 0.75 pt apart ("synthetic
    bold"): pypdf reads "3.6. 3.6. Module PathModule Path". Read once, it is a heading."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.text(20, 20, "Public modules are installed in the system modules directory.")
    for x, piece in ((20, "3.6. "), (30, "Module Path")):  # each piece twice, as Chromium
        for dy in (0.0, 0.75 * 25.4 / 72):  # the second print 0.75 pt lower
            pdf.text(x, 32 + dy, piece)
    pdf.text(20, 44, "Directories with private modules must be absent from the sys.path.")
    path = tmp_path / "policy.pdf"
    pdf.output(str(path))
    sections = _sections(path)
    assert not any("Module Path" in s[2] for s in sections), sections  # read as the heading
    assert sections[-1][0][-1] == "3.6. Module Path", sections
    assert sections[-1][2] == "Directories with private modules must be absent from the sys.path."


def test_a_word_repeated_after_a_font_change_is_kept(tmp_path: Path) -> None:
    """pypdf reports runs after a font change inside one text block at the block's start:
    the second "Note:" below sits at the very place of the first, and is real text."""
    from reportlab.pdfgen import canvas

    path = tmp_path / "notes.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setFont("Helvetica", 16)
    pdf.drawString(72, 740, "Shaft Safety")  # a heading: the page is read line by line
    text = pdf.beginText(72, 700)
    runs = [("Helvetica-Bold", "Note: "), ("Helvetica", "see the shaft. ")] * 2
    runs += [("Helvetica-Bold", "Stop. "), ("Helvetica", "Stop. ")]  # one after the other
    for font, words in runs:
        text.setFont(font, 11)
        text.textOut(words)
    pdf.drawText(text)
    pdf.save()
    body = " ".join(s[2] for s in _sections(path))
    assert body.count("Note:") == 2 and body.count("Stop.") == 2, body
