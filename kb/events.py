"""What every document parser emits: ("h", level, [name]) a heading, ("b", 0, lines) one
paragraph whose lines are kept apart (list items, table rows), ("pg", number, []) the start
of a PDF page; and the whitespace rule they share."""

from __future__ import annotations

from edgekit.kb import zh_markers

Event = tuple[str, int, list[str]]


def norm(text: str) -> str:
    """Collapse all runs of whitespace (including newlines and nbsp) to one space; a line
    break between two CJK characters is dropped (Chinese wraps without spaces)."""
    return " ".join(zh_markers.unwrap(text).split())
