"""What a knowledge base hands out: a retrieved chunk (`Hit`, with the metadata keys every
chunk carries in Chroma) and what an ingest did (`IngestReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# chunk metadata keys
C_SOURCE, C_TITLE, C_HEADING, C_PAGE = "source", "title", "heading", "page"
C_DOC_SHA, C_CHUNK, C_SECTION, C_START, C_END = "doc_sha256", "chunk", "section", "start", "end"
HEADING_SEP = " > "
ROW_SEP = " | "  # between the cells of a table row in a section's text (kb.loaders)


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    score: float
    meta: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.meta[C_SOURCE])

    @property
    def heading(self) -> str:
        return str(self.meta.get(C_HEADING, ""))

    @property
    def page(self) -> int | None:
        page = int(self.meta.get(C_PAGE, -1))
        return page if page >= 0 else None

    def citation(self) -> str:
        where = f"{self.source} › {self.heading}" if self.heading else self.source
        return where + (f" (p. {self.page})" if self.page else "")


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # files skipped: "path: why"
    warnings: list[str] = field(default_factory=list)  # files indexed: "path: what to know"
    chunks_embedded: int = 0
    seconds: float = 0.0

    @property
    def embedded_documents(self) -> list[str]:
        return sorted(self.added + self.changed)
