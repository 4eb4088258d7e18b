"""Text for measuring quantization and calibrating GPTQ: `Texts`, and reading text from
.txt, JSONL or a folder of documents. Which text a build uses: `pipeline.quant_texts`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.kb.loaders import load_documents

MAX_PIECE_CHARS = 1200  # ~256 tokens: one scored sequence / one calibration sample


@dataclass(frozen=True)
class Texts:
    """Text for one purpose, with where it came from (recorded in report/quant.json)."""

    domain: list[str]
    general: list[str]
    source: str

    def mixed(self) -> list[str]:
        """Domain and general text alternated, so a token budget takes some of both."""
        out: list[str] = []
        for i in range(max(len(self.domain), len(self.general))):
            out += [t[i] for t in (self.domain, self.general) if i < len(t)]
        return out

    def describe(self) -> dict[str, Any]:
        return {"domain": len(self.domain), "general": len(self.general), "source": self.source}


def pieces(text: str, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """Paragraphs of ``text`` packed into pieces of at most ``max_chars`` (a paragraph longer
    than that is cut)."""
    out, cur = [], ""
    for para in (p.strip() for p in text.split("\n\n")):
        if not para:
            continue
        if cur and len(cur) + len(para) + 2 > max_chars:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n\n{para}" if cur else para
        while len(cur) > max_chars:
            out.append(cur[:max_chars])
            cur = cur[max_chars:]
    return out + ([cur] if cur else [])


def chat_text(row: dict[str, Any]) -> str:
    """A chat JSONL row as plain text (each message on its own paragraph)."""
    if "messages" in row:
        return "\n\n".join(str(m.get("content", "")) for m in row["messages"]).strip()
    for key in ("text", "prompt"):
        if key in row:
            return str(row[key]).strip()
    return ""


def read_texts(path: Path, rule_filter: str | None = None) -> list[str]:
    """Texts in a .txt file (paragraph pieces), a JSONL file (chat rows, {"text"} or
    {"prompt"}; rows whose `rule` is ``rule_filter`` are left out) or a folder of docs."""
    if path.is_dir():
        documents, _ = load_documents(path)
        return [p for d in documents for s in d.sections for p in pieces(s.text)]
    if not path.is_file():
        raise EdgekitError(f"{path}: no such text file or folder")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        texts = [chat_text(r) for r in rows if rule_filter is None or r.get("rule") != rule_filter]
        return [t for t in texts if t]
    return pieces(path.read_text())
