"""HTML documents as parser events: headings, paragraphs, list items and table rows; page
chrome (script, style, nav, header, footer) left out."""

from __future__ import annotations

from html.parser import HTMLParser

from edgekit.kb.events import Event, norm
from edgekit.kb.records import ROW_SEP

_HTML_SKIP = {"script", "style", "nav", "header", "footer", "noscript", "template"}
_HTML_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HTML_BLOCKS = {
    "p",
    "div",
    "li",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "section",
    "article",
    "main",
    "aside",
    "figure",
    "figcaption",
    "form",
    "hr",
    "body",
    "address",
    "details",
    "summary",
}


class _HTMLEvents(HTMLParser):
    """Collect heading/paragraph events; list text becomes "- " lines, rows "a | b" lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[Event] = []
        self.title = ""
        self._in_title = self._cell = False
        self._skip = self._lists = self._pre = self._heading = 0
        self._buf: list[str] = []
        self._lines: list[str] = []  # pending list items / table rows
        self._row: list[str] = []

    def _flush_lines(self) -> None:
        if self._lines:
            self.events.append(("b", 0, self._lines))
            self._lines = []

    def _end_text(self) -> None:
        if self._heading:
            return
        text = norm("".join(self._buf))
        self._buf.clear()
        if text and self._lists:
            self._lines.append("- " + text)
        elif text:
            self._flush_lines()
            self.events.append(("b", 0, [text]))

    def _end_cell(self, end_row: bool = False) -> None:
        """Close the open cell (end tags of td/tr are optional in HTML), maybe the row."""
        if self._cell:
            self._row.append(norm("".join(self._buf)))
            self._buf.clear()
            self._cell = False
        if end_row and any(self._row):
            self._lines.append(ROW_SEP.join(self._row))
        self._row = [] if end_row else self._row

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HTML_SKIP:
            self._skip += 1
        elif self._skip:
            return
        elif tag == "title":
            self._in_title = True
        elif tag in ("td", "th"):
            self._end_cell()
            self._buf.clear()
            self._cell = True
        elif tag in ("tr", "table"):
            self._end_cell(end_row=True)
            self._end_text()
        elif tag == "br":
            self._buf.append("\n")
        elif self._cell or self._pre:
            self._buf.append(" " if tag in _HTML_BLOCKS and not self._pre else "")
        elif tag in _HTML_HEADINGS:
            self._end_text()
            self._heading = _HTML_HEADINGS[tag]
        elif tag in _HTML_BLOCKS:
            self._end_text()
            self._lists += tag in ("ul", "ol")
            self._pre += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag in _HTML_SKIP:
            self._skip = max(0, self._skip - 1)
        elif self._skip:
            return
        elif tag == "title":
            self._in_title = False
        elif tag in ("td", "th", "tr", "table"):
            self._end_cell(end_row=tag != "td" and tag != "th")
            if tag == "table":
                self._flush_lines()
        elif self._cell:
            return
        elif tag == "pre" and self._pre:
            self._pre -= 1
            self._flush_lines()
            self.events.append(("b", 0, "".join(self._buf).splitlines()))
            self._buf.clear()
        elif tag in _HTML_HEADINGS and self._heading:
            name = norm("".join(self._buf))
            self._buf.clear()
            self._heading = 0
            if name:
                self._flush_lines()
                self.events.append(("h", _HTML_HEADINGS[tag], [name]))
        elif tag in _HTML_BLOCKS:
            self._end_text()
            if tag in ("ul", "ol"):
                self._lists = max(0, self._lists - 1)
            if tag in ("ul", "ol", "dl") and not self._lists:
                self._flush_lines()

    def handle_data(self, data: str) -> None:
        if self._in_title and not self._skip:
            self.title += data
        elif not self._skip:
            self._buf.append(data)


def parse_html(text: str) -> tuple[list[Event], str]:
    """Events and the <title> text (may be empty)."""
    parser = _HTMLEvents()
    parser.feed(text)
    parser.close()
    parser._end_cell(end_row=True)
    parser._end_text()
    parser._flush_lines()
    return parser.events, norm(parser.title)
