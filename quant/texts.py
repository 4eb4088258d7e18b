"""Which text measures quantization and which text calibrates GPTQ: never the same text.

- Trained builds (`train.enabled`): the data build's held-out splits measure
  (`eval_domain.jsonl`, `eval_general.jsonl`, never trained on); the training text
  calibrates (`train.jsonl` domain rows and `pretrain.txt`, never the eval splits).
- Untrained builds with `docs`: the model has seen none of the docs, so their sections are
  fair text to measure on; GPTQ calibrates on the docs too, so the sections are split by a
  stable hash of their text: one in four measures, the rest calibrates. General text is
  edgekit's bundled general prompts, split the same way.
- No docs: the general prompts alone, split the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

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


def _held_out(text: str) -> bool:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 4 == 0


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
        from edgekit.data.build import load_documents

        documents, _ = load_documents(path)
        return [p for d in documents for s in d.sections for p in pieces(s.text)]
    if not path.is_file():
        raise EdgekitError(f"{path}: no such text file or folder")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        texts = [chat_text(r) for r in rows if rule_filter is None or r.get("rule") != rule_filter]
        return [t for t in texts if t]
    return pieces(path.read_text())


def _general_prompts() -> list[str]:
    from edgekit.data.build import general_prompts

    return [p["prompt"] for p in general_prompts()]


def _split(texts: list[str], held_out: bool) -> list[str]:
    """One side of the stable split; a short list still gives its first text to the
    held-out side, so there is something to measure."""
    side = [t for t in texts if _held_out(t)]
    if not side and texts:
        side = texts[:1]
    return side if held_out else [t for t in texts if t not in side]


def _data_dir(loaded: Any, work: Path) -> Path | None:
    data = work / "training" / "main" / "data"
    return data if loaded.config.train.enabled and (data / "train.jsonl").is_file() else None


def eval_texts(loaded: Any, work: Path) -> Texts:
    """Held-out domain and general text for measuring a build's quantized models."""
    from edgekit.data.build import EVAL_DOMAIN, EVAL_GENERAL

    data = _data_dir(loaded, work)
    if data is not None:
        domain = read_texts(data / EVAL_DOMAIN) if (data / EVAL_DOMAIN).is_file() else []
        general = read_texts(data / EVAL_GENERAL) if (data / EVAL_GENERAL).is_file() else []
        return Texts(domain, general, "held-out splits of the training data (never trained on)")
    docs = loaded.config.docs
    domain = _split(read_texts(docs), True) if docs is not None else []
    where = "a quarter of the docs' sections (the model was not tuned; GPTQ calibrates on the rest)"
    return Texts(
        domain,
        _split(_general_prompts(), True),
        (where if docs is not None else "no docs") + "; a quarter of edgekit's general prompts",
    )


def calibration_texts(loaded: Any, work: Path) -> Texts:
    """Domain text for GPTQ calibration: the training text, never an eval split."""
    from edgekit.data.build import PRETRAIN, TRAIN

    data = _data_dir(loaded, work)
    if data is not None:
        domain = read_texts(data / TRAIN, rule_filter="replay")
        if (data / PRETRAIN).is_file():
            domain += read_texts(data / PRETRAIN)
        return Texts(domain, [], "training text: SFT domain rows and pretraining text")
    docs = loaded.config.docs
    general = _split(_general_prompts(), False)
    if docs is not None:
        domain = _split(read_texts(docs), False)
        return Texts(
            domain, general, "three quarters of the docs' sections (general prompts fill up)"
        )
    return Texts([], general, "edgekit's general prompts (no docs)")
