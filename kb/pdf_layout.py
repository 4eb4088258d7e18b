"""PDF pages -> heading/paragraph events, with headings recovered from the layout.

pypdf reports every text run with its font and matrices (``extract_text(visitor_text=...)``).
The body size is the one covering the most characters. A short line clearly larger than it,
or wholly bold at body size, is a heading; distinct sizes rank largest -> level 1, bold body
text lowest, and numbering depth ("2.3 Fans" under "2 Ventilation") refines a size's level;
level 1 is kept for a lone leading title, else the file's title roots the heading paths.
With no font information, or no line that qualifies, pages split on blank lines as before.
Chinese structure markers (kb.zh_markers: 第一章, 一、, 第十二条 ...) on body-size lines are
headings too, below every font-detected one; numbering depth also counts their rank.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgekit.kb import zh_markers
from edgekit.kb.events import Event

HEADING_RATIO = 1.15  # a heading's size vs the body size (and the "at body size" tolerance)
MAX_WORDS = 12
MAX_CHARS = 120
MAX_CJK_CHARS = 40  # a Chinese heading has no spaces: counted in characters
BOLD_KEY = 0.0  # size key of bold-at-body-size headings: sorts after every real size
OVERPRINT = 1.5  # points: the same text drawn again this close is a bold effect
MARKER_KEY = -1.0  # size key of rank-0 marker headings at body size; each rank 0.1 lower

_BOLD = re.compile(r"bold|black|heavy", re.IGNORECASE)  # "Semibold" contains "bold"
_NUMBERED = re.compile(
    r"(?:(\d{1,3}(?:\.\d{1,3})*)\.?\s+\S|(?:chapter|section|part)\s+\d{1,3}\b)", re.IGNORECASE
)
_SENTENCE_END = (".", ",", ";", ":", "。", "，", "；", "：")
_PARA_SPLIT = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Line:
    """One text line: size covering most of its characters (0: unknown), wholly bold or not."""

    text: str
    size: float
    bold: bool


@dataclass
class PageText:
    """One page: pypdf's plain text (the fallback) and its lines with font facts."""

    plain: str
    lines: list[Line] = field(default_factory=list)
    sizes: Counter[float] = field(default_factory=Counter)  # non-space characters per size


def _run_size(cm: Sequence[float], tm: Sequence[float], font_size: float) -> float:
    """Rendered font size: Tf size times the vertical scale of text matrix x CTM."""
    c = tm[2] * cm[0] + tm[3] * cm[2]
    d = tm[2] * cm[1] + tm[3] * cm[3]
    scale = (c * c + d * d) ** 0.5
    return round(float(font_size) * (scale or 1.0), 1)


def _is_bold(font: Any) -> bool:
    """Whether the font's base name says bold/black/heavy/semibold."""
    try:
        name = str(font.get("/BaseFont", "")) if font is not None else ""
    except AttributeError:
        return False
    return bool(_BOLD.search(name))


def _make_line(parts: list[tuple[str, float, bool]], sizes: Counter[float]) -> Line:
    """Join one line's runs; count its characters per size into ``sizes``."""
    own: Counter[float] = Counter()
    bold = True
    for text, size, is_bold in parts:
        chars = len("".join(text.split()))
        if chars:
            own[size] += chars
            bold = bold and is_bold
    sizes.update({size: n for size, n in own.items() if size})
    size = own.most_common(1)[0][0] if own else 0.0
    return Line("".join(text for text, _, _ in parts), size, bool(own) and bold)


def _origin(cm: Sequence[float], tm: Sequence[float]) -> tuple[float, float]:
    """Where a text run starts on the page: the text matrix's origin through the CTM."""
    x, y = float(tm[4]), float(tm[5])
    return (x * cm[0] + y * cm[2] + cm[4], x * cm[1] + y * cm[3] + cm[5])


def _overprint(text: str, at: tuple[float, float], last: tuple[str, float, float]) -> bool:
    """Whether the run ``text`` at ``at`` repeats the run just before it (``last``) a
    fraction of a point away: synthetic bold (Chromium prints a bold heading of a regular
    font twice, 0.75 pt apart), not new text. The very same place does not count: pypdf
    reports a run after a font change inside one text block at the block's start, so a
    repeated word there ("Note: see Note: see") is real text."""
    if last[0] != text:
        return False
    dx, dy = abs(last[1] - at[0]), abs(last[2] - at[1])
    return 0 < max(dx, dy) <= OVERPRINT


def read_page(page: Any) -> PageText:
    """Extract one pypdf page once: plain text plus per-line size and weight. A run drawn
    again right away a fraction of a point off counts once, as bold (:func:`_overprint`)."""
    runs: list[tuple[str, float, bool]] = []
    last: list[tuple[str, float, float, int]] = []  # the last run with text: where, its index

    def visit(text: str, cm: Any, tm: Any, font: Any, font_size: Any) -> None:
        known = font is not None and bool(font_size)
        if text.strip() and cm is not None and tm is not None:
            at = _origin(cm, tm)
            if last and _overprint(text, at, last[0][:3]):
                i = last[0][3]
                runs[i] = (runs[i][0], runs[i][1], runs[i][1] > 0)  # printed twice: bold
                return
            last[:] = [(text, *at, len(runs))]
        size = _run_size(cm, tm, font_size) if known else 0.0
        runs.append((text, size, known and _is_bold(font)))

    result = PageText(page.extract_text(visitor_text=visit) or "")
    parts: list[tuple[str, float, bool]] = []
    for text, size, bold in runs:
        for i, piece in enumerate(text.split("\n")):
            if i:
                result.lines.append(_make_line(parts, result.sizes))
                parts = []
            if piece:
                parts.append((piece, size, bold))
    result.lines.append(_make_line(parts, result.sizes))
    return result


def _depth(text: str) -> int:
    """Numbering depth: "3" / "3." / "Chapter 3" -> 1, "3.2" -> 2, a Chinese marker its rank
    + 1 (第一章 -> 2, 第一条 -> 5); 0 when not numbered."""
    match = _NUMBERED.match(text)
    if not match:
        marker = zh_markers.marker_heading(text)
        return marker.rank + 1 if marker else 0
    return match.group(1).count(".") + 1 if match.group(1) else 1


def _is_heading_text(text: str) -> bool:
    """Short, has words, and no sentence end (a numbered heading may end with a period)."""
    if len(text) > MAX_CHARS or len(text.split()) > MAX_WORDS:
        return False
    if sum(ch.isalpha() for ch in text) < 2:
        return False
    if zh_markers.is_mainly_cjk(text) and len(text) > MAX_CJK_CHARS:
        return False
    return not text.endswith(_SENTENCE_END) or _NUMBERED.match(text) is not None


def _size_key(line: Line, body: float) -> float | None:
    """Heading-size key of a candidate line (BOLD_KEY: bold at body size), else None."""
    if not line.size or not line.text.strip():
        return None
    if line.size >= body * HEADING_RATIO:
        return round(line.size * 2) / 2
    if line.bold and line.size * HEADING_RATIO > body:
        return BOLD_KEY
    return None


def _segments(lines: list[str]) -> list[list[str]]:
    """Split same-size lines after each sentence end: a large prose paragraph, then a heading."""
    out: list[list[str]] = [[]]
    for text in lines:
        out[-1].append(text)
        if text.rstrip().endswith((*_SENTENCE_END, "!", "?", "！", "？")):
            out.append([])
    return [segment for segment in out if segment]


# A page laid out: ("h", size key, name) headings and ("b", 0.0, paragraph) in reading order.
_Item = tuple[str, float, str]


def _marker_key(marker: zh_markers.Marker) -> float:
    return round(MARKER_KEY - marker.rank / 10, 1)


def _page_items(lines: list[Line], body: float) -> list[_Item]:
    """Runs of candidate lines of one size (split after sentence ends) that are short become
    headings, and so do body-size lines that are Chinese structure markers; everything else
    is prose, split into paragraphs on blank lines."""
    items: list[_Item] = []
    para: list[str] = []
    group: list[str] = []
    group_key: float | None = None

    def end_para() -> None:
        if para:
            items.append(("b", 0.0, "\n".join(para)))
            para.clear()

    def end_group() -> None:
        for segment in _segments(group):
            name = " ".join(" ".join(segment).split())
            if group_key is not None and _is_heading_text(name):
                end_para()
                items.append(("h", group_key, name))
            else:
                para.extend(segment)
        group.clear()

    for line in lines:
        key = _size_key(line, body)
        marker = zh_markers.marker_heading(line.text) if key is None else None
        if group and key != group_key:
            end_group()
        if key is not None:
            group.append(line.text)
            group_key = key
        elif marker is not None:
            end_para()
            items.append(("h", _marker_key(marker), marker.name))
            para.extend([marker.rest] if marker.rest else [])
        elif line.text.strip():
            para.append(line.text)
        else:
            end_para()
    if group:
        end_group()
    end_para()
    return items


def _drop_running_heads(pages: list[list[_Item]]) -> None:
    """A "heading" repeated on most pages (>= 3) is a running header: keep it as text."""
    seen = Counter(name for items in pages for name in {n for k, _, n in items if k == "h"})
    repeated = {name for name, n in seen.items() if n >= 3 and n * 2 > len(pages)}
    for items in pages:
        items[:] = [("b", 0.0, n) if k == "h" and n in repeated else (k, s, n) for k, s, n in items]


def _levels(headings: list[tuple[float, str]]) -> list[int]:
    """Level per heading: size rank (largest first), shifted by numbering depth within a size."""
    spans: dict[float, tuple[int, int]] = {}
    for key, name in headings:
        depth = _depth(name)
        if depth:
            low, high = spans.get(key, (depth, depth))
            spans[key] = (min(low, depth), max(high, depth))
    base: dict[float, int] = {}
    level = 1
    for key in sorted({key for key, _ in headings}, reverse=True):
        base[key] = level
        low, high = spans.get(key, (1, 1))
        level += high - low + 1
    out = []
    for key, name in headings:
        depth = _depth(name)
        out.append(base[key] + (depth - spans[key][0] if depth else 0))
    return out


def body_size(pages: Sequence[PageText]) -> float:
    """The font size covering the most characters on all pages (0.0: no font information)."""
    total: Counter[float] = Counter()
    for page in pages:
        total.update(page.sizes)
    return total.most_common(1)[0][0] if total else 0.0


def page_events(pages: Sequence[PageText]) -> list[Event]:
    """Events for all pages: headings from the layout, else blank-line paragraphs per page."""
    body = body_size(pages)
    laid = [_page_items(page.lines, body) for page in pages] if body else []
    _drop_running_heads(laid)
    headings = [(size, name) for items in laid for kind, size, name in items if kind == "h"]
    events: list[Event] = []
    if not headings:
        for number, page in enumerate(pages, 1):
            events.append(("pg", number, []))
            for para in _PARA_SPLIT.split(page.plain):
                events.extend(_marked_events(para))
        return events
    levels = _levels(headings)
    # no lone leading title (a Chinese marker never is one): the file's title roots the paths
    if levels.count(1) != 1 or levels[0] != 1 or headings[0][0] < BOLD_KEY:
        levels = [level + 1 for level in levels]
    level_of = iter(levels)
    for number, items in enumerate(laid, 1):
        events.append(("pg", number, []))
        for kind, _, text in items:
            events.append(("h", next(level_of), [text]) if kind == "h" else ("b", 0, [text]))
    return events


def _marked_events(para: str) -> list[Event]:
    """One blank-line paragraph of a page without layout headings; its Chinese structure
    marker lines (第一章 总则, 第十二条 ...) become headings."""
    blocks = zh_markers.marker_blocks(para)
    if all(marker is None for marker, _ in blocks):
        return [("b", 0, [para])]
    events: list[Event] = []
    for marker, text in blocks:
        if marker is not None:
            events.append(("h", marker.level, [marker.name]))
        if text.strip():
            events.append(("b", 0, [text]))
    return events


def parse_pdf(reader: Any) -> tuple[list[Event], str]:
    """Events of an opened (decrypted) pypdf reader, and its title (may be empty).

    The title is the metadata title, else a lone largest heading that comes first (level 1;
    without one, headings start at level 2 so that the file's title roots every path).
    """
    meta = reader.metadata
    title = " ".join(str(meta.title or "").split()) if meta is not None else ""
    events = page_events([read_page(page) for page in reader.pages])
    top = [lines[0] for kind, level, lines in events if kind == "h" and level == 1]
    return events, title or (top[0] if top else "")
