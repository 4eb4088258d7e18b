"""Hash-chained audit log: one JSON line per answer, each carrying the previous line's hash.

Editing a line breaks its own hash; deleting or reordering lines breaks the chain. The
log holds hashes of prompts and answers, not their text.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def _line_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last = GENESIS
        if self.path.is_file():
            lines = [x for x in self.path.read_text().splitlines() if x.strip()]
            if lines:
                self._last = json.loads(lines[-1])["hash"]

    def append(self, **record: Any) -> str:
        with self._lock:
            row = {
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                **record,
                "prev": self._last,
            }
            row["hash"] = _line_hash(row)
            with open(self.path, "a") as f:
                f.write(json.dumps(row, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._last = row["hash"]
            return row["hash"]


@dataclass
class AuditReport:
    lines: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(path: Path) -> AuditReport:
    """Recompute every line's hash and the chain; report each broken line by number."""
    report = AuditReport()
    prev = GENESIS
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        report.lines += 1
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            report.problems.append(f"line {n}: not valid JSON")
            prev = None  # type: ignore[assignment]
            continue
        if row.get("hash") != _line_hash(row):
            report.problems.append(f"line {n}: content does not match its hash (edited)")
        if prev is not None and row.get("prev") != prev:
            report.problems.append(
                f"line {n}: previous-hash link broken (a line before it was "
                "deleted, inserted or edited)"
            )
        prev = row.get("hash")
    return report
