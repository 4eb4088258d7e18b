"""Turn site documents (md, txt, html, pdf, docx) into heading-aware sections.

Each format parser emits flat events; one assembler applies the shared heading-path and
whitespace rules. pypdf and python-docx are imported lazily (only for those formats); PDF
headings come from font sizes and weights (kb.pdf_layout).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.kb import pdf_layout, zh_markers
from edgekit.kb.events import Event, norm
from edgekit.kb.html_text import parse_html
from edgekit.kb.records import ROW_SEP

SCANNED_MIN_PAGES = 4  # a PDF this long with text on under half its pages gets a warning
PAGE_TEXT_CHARS = 40  # non-space characters that make a page's text readable (not a stamp)

SUPPORTED_SUFFIXES: tuple[str, ...] = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")


class LoaderError(EdgekitError):
    """A document could not be parsed; message starts with the file path and says why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Section:
    """Body text under one heading; ``heading_path`` starts with the document title."""

    heading_path: tuple[str, ...]
    text: str
    page: int | None


@dataclass(frozen=True)
class Document:
    """One parsed file: its title, non-empty sections in order, and raw-bytes sha256."""

    path: Path
    title: str
    sections: tuple[Section, ...]
    sha256: str
    #: what a user should know about the file though it parsed (pages without text)
    warnings: tuple[str, ...] = ()


def _first_heading(events: list[Event], *levels: int) -> str:
    """Text of the first heading at the first of ``levels`` that occurs (a title), or ""."""
    for level in levels:
        for kind, number, lines in events:
            if kind == "h" and number == level:
                return lines[0]
    return ""


def _assemble(events: list[Event], title: str) -> tuple[Section, ...]:
    """Build sections: headings push/pop a level stack; the title roots every path."""
    stack: list[tuple[int, str]] = []
    sections: list[Section] = []
    paras: list[str] = []
    page: int | None = None

    def flush() -> None:
        if paras:
            names = tuple(name for _, name in stack)
            if title and (not stack or stack[0][0] > 1):
                names = (title, *names)
            sections.append(Section(names, "\n\n".join(paras), page))
            paras.clear()

    for kind, number, lines in events:
        if kind == "h":
            flush()
            while stack and stack[-1][0] >= number:
                stack.pop()
            stack.append((number, lines[0]))
        elif kind == "pg":
            flush()
            page = number
        else:
            kept = [line for line in (norm(raw) for raw in lines) if line]
            if kept:
                paras.append("\n".join(kept))
    flush()
    return tuple(sections)


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_ITEM = re.compile(r"^\s*(?:([-*+])|(\d+[.)]))\s+(.*)$")
_TERM = re.compile(r"^\s*(\*\*|__)[^*_]+?(\1\s*:|:\s*\1)")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
# a plain-text table's line: cells set apart by a run of spaces or a tab (not the two spaces
# some writers put after a full stop); a rule line of box-drawing or dash characters
_COLUMN_GAP = re.compile(r"(?<=[^\s.!?;:,。！？；：，])(?: {2,}|\t+)(?=\S)")
_RULE = re.compile(r"^\s*[─━═\-=_]{3,}\s*$")


def _inline(text: str) -> str:
    """Drop simple markdown markup: links/images keep their text; **, __ and ` removed."""
    text = _LINK.sub(r"\1", text)
    return text.replace("**", "").replace("__", "").replace("`", "")


def _group_lines(group: list[str], markdown: bool) -> list[str]:
    """Join soft-wrapped prose; keep list items, table rows (markdown, or columns set apart
    by runs of spaces in two or more lines) and term lines one per line."""
    is_table = markdown and any("|" in ln and _TABLE_SEP.match(ln) for ln in group)
    columns = sum(bool(_COLUMN_GAP.search(ln.strip())) for ln in group) >= 2
    out: list[list[str]] = []  # [kind, text]
    for raw in group:
        line = re.sub(r"^\s*(>\s?)+", "", raw) if markdown else raw
        item = _ITEM.match(line)
        if columns and not is_table and _RULE.match(line):
            continue
        if columns and not is_table and not item and _COLUMN_GAP.search(line.strip()):
            out.append(["row", ROW_SEP.join(_COLUMN_GAP.split(line.strip()))])
        elif markdown and (is_table or line.lstrip().startswith("|")):
            if _TABLE_SEP.match(line):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.append(["row", ROW_SEP.join(cells)])
        elif item:
            text = ("- " if item.group(1) else item.group(2) + " ") + item.group(3)
            out.append(["item", text])
        elif markdown and _TERM.match(line):
            out.append(["term", line])
        elif out and out[-1][0] != "row" and not zh_markers.starts_own_line(out[-1][1], line):
            out[-1][1] += zh_markers.joiner(out[-1][1], line) + line
        else:
            out.append(["prose", line])
    return [_inline(text) if markdown else text for _, text in out]


def _parse_text(text: str, markdown: bool) -> list[Event]:
    """Markdown (ATX/setext headings, fences) or plain text (setext headings and Chinese
    structure markers: 第一章, 一、, 第十二条 ..., see kb.zh_markers)."""
    lines = text.splitlines()
    if markdown and lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, ln in enumerate(lines[1:], 1) if ln.strip() in ("---", "...")), 0)
        lines = lines[end + 1 :]
    events: list[Event] = []
    group: list[str] = []
    fence: str | None = None
    base = 1 if markdown else 2  # txt headings sit under the file-stem title

    def heading(level: int, name: str) -> None:
        name = norm(_inline(name) if markdown else name)
        if name:
            events.append(("h", level, [name]))

    def flush(raw: bool = False) -> None:  # raw: fenced code, kept line by line
        if group:
            events.append(("b", 0, group[:] if raw else _group_lines(group, markdown)))
            group.clear()

    for line in lines:
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                flush(raw=True)
                fence = None
            else:
                group.append(line)
            continue
        open_fence = _FENCE.match(line) if markdown else None
        atx = _ATX.match(line) if markdown else None
        setext = _SETEXT.match(line)
        marker = None if markdown else zh_markers.marker_heading(line)
        if open_fence:
            flush()
            fence = open_fence.group(1)
        elif atx:
            flush()
            heading(len(atx.group(1)), atx.group(2))
        elif setext and len(group) == 1 and not _ITEM.match(group[0]) and "|" not in group[0]:
            name = group.pop()
            heading(base if setext.group(1)[0] == "=" else base + 1, name)
        elif setext:
            flush()  # a thematic break, or an underline with no single line above it: dropped
        elif marker:
            flush()
            heading(marker.level, marker.name)
            group.extend([marker.rest] if marker.rest else [])
        elif not line.strip():
            flush()
        else:
            group.append(line)
    flush(raw=fence is not None)
    return events


def _parse_pdf(data: bytes, path: Path) -> tuple[list[Event], str]:
    """Page events, headings from font size/weight (kb.pdf_layout); returns the title."""
    try:
        from pypdf import PdfReader
    except ImportError as exc:
        raise LoaderError(path, "reading PDF needs pypdf (pip install pypdf)") from exc
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise LoaderError(path, "PDF is encrypted with a password; save an unencrypted copy")
    return pdf_layout.parse_pdf(reader)


def _scanned_pages(events: list[Event], path: Path) -> tuple[str, ...]:
    """A PDF without text on any page is an error (a scanned PDF: nothing of it could be
    found); one with readable text (:data:`PAGE_TEXT_CHARS`) on fewer than half of its
    pages (4 or more) gets a warning."""
    pages, chars, page = 0, Counter[int](), 0  # non-space characters per page
    for kind, number, lines in events:
        if kind == "pg":
            pages, page = pages + 1, number
        else:
            chars[page] += sum(len("".join(line.split())) for line in lines)
    ocr = "OCR it first (for example `ocrmypdf in.pdf out.pdf` adds a text layer)"
    if not any(chars.values()):
        raise LoaderError(path, f"no text on any of its {pages} page(s): a scanned PDF? {ocr}")
    # a scanner's watermark or a page number alone is no readable page
    readable = sum(n >= PAGE_TEXT_CHARS for n in chars.values())
    if pages >= SCANNED_MIN_PAGES and readable < pages / 2:
        return (f"readable text on only {readable} of its {pages} pages (scanned?): {ocr}",)
    return ()


def _parse_docx(data: bytes, path: Path) -> tuple[list[Event], str]:
    """Title/Heading N styles are headings (levels 0/N), so are Chinese structure markers in
    body paragraphs (第一章, 第十二条, 一、 ...: levels 2+); returns the Title or first H1."""
    try:
        import docx
        from docx.table import Table
    except ImportError as exc:
        raise LoaderError(path, "reading DOCX needs python-docx (pip install python-docx)") from exc
    events: list[Event] = []
    lines: list[str] = []  # consecutive list paragraphs form one block
    for block in docx.Document(io.BytesIO(data)).iter_inner_content():
        kind, text, depth = "table", "", 0
        if not isinstance(block, Table):
            text, style = norm(block.text), (block.style.name if block.style else "") or ""
            level = re.fullmatch(r"Heading ([1-9])", style)
            numbered = block._p.pPr is not None and block._p.pPr.numPr is not None
            if style == "Title" or level:
                kind, depth = "h", int(level.group(1)) if level else 0
            else:
                kind = "li" if style.startswith("List") or numbered else "p"
        if kind == "li" and text:
            lines.append("- " + text)
            continue
        if lines:
            events.append(("b", 0, lines))
            lines = []
        if isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells = list(dict.fromkeys(row.cells))  # merged cells repeat: keep one
                rows.append(ROW_SEP.join(norm(cell.text) for cell in cells))
            events.append(("b", 0, [r for r in rows if r.strip(" |")]))
        elif text:
            events.extend([("h", depth, [text])] if kind == "h" else _marked(text))
    if lines:
        events.append(("b", 0, lines))
    return events, _first_heading(events, 0, 1)


def _marked(text: str) -> list[Event]:
    """A docx paragraph's events: a Chinese structure marker (第一章 总则, 第十二条 ...) is a
    heading (under Title and Heading 1); an article's own text follows as a paragraph."""
    marker = zh_markers.marker_heading(text)
    if marker is None:
        return [("b", 0, [text])]
    body: list[Event] = [("b", 0, [marker.rest])] if marker.rest else []
    return [("h", marker.level, [marker.name]), *body]


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 (BOM allowed), else Windows-1252 as written by many site PCs."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise LoaderError(path, "not valid UTF-8 or cp1252 text") from exc


def load_document(path: Path) -> Document:
    """Parse one file by suffix; any failure (including library errors) is a LoaderError."""
    path = Path(path).resolve()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise LoaderError(path, f"unsupported file type {suffix!r} (supported: {supported})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoaderError(path, f"cannot read file: {exc.strerror or exc}") from exc
    warnings: tuple[str, ...] = ()
    try:
        if suffix == ".pdf":
            events, title = _parse_pdf(data, path)
            warnings = _scanned_pages(events, path)
        elif suffix == ".docx":
            events, title = _parse_docx(data, path)
        elif suffix in (".html", ".htm"):
            events, title = parse_html(_decode(data, path))
            title = title or _first_heading(events, 1)
        elif suffix == ".txt":  # title is always the stem; setext headings nest under it
            events, title = _parse_text(_decode(data, path), markdown=False), ""
        else:
            events = _parse_text(_decode(data, path), markdown=True)
            title = _first_heading(events, 1)
    except LoaderError:
        raise
    except Exception as exc:  # pypdf / python-docx / zipfile raise many types
        why = f"{type(exc).__name__}: {exc}"
        raise LoaderError(path, f"not a readable {suffix[1:].upper()} file ({why})") from exc
    title = title or path.stem
    sha = hashlib.sha256(data).hexdigest()
    sections = _assemble(events, title)
    return Document(path=path, title=title, sections=sections, sha256=sha, warnings=warnings)


def iter_documents(folder: Path) -> Iterator[Document | LoaderError]:
    """Load every supported file under ``folder`` (recursive, sorted by relative path).

    Hidden files/dirs and Office lock files (``~$x.docx``) are skipped, unsupported suffixes
    ignored; a file that fails to parse is yielded as a LoaderError so callers can go on.
    """
    root = Path(folder)
    if not root.is_dir():
        raise LoaderError(root, "not a directory")
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith((".", "~$")) or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            full = Path(dirpath, name)
            found.append((full.relative_to(root).as_posix(), full))
    for _, full in sorted(found):
        try:
            yield load_document(full)
        except LoaderError as exc:
            yield exc


def load_documents(
    docs: Path, patterns: list[str] | None = None
) -> tuple[list[Document], list[str]]:
    """Parsed documents under ``docs`` (optionally only those matching glob ``patterns``)."""
    documents, errors = [], []
    for item in iter_documents(docs):
        if isinstance(item, LoaderError):
            errors.append(str(item))
            continue
        rel = item.path.relative_to(docs.resolve()).as_posix()
        if patterns is None or any(fnmatch.fnmatch(rel, p) for p in patterns):
            documents.append(item)
    return documents, errors
