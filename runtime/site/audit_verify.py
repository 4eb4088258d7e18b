"""`edgekit audit verify`: check an audit log line by line (see edgekit.runtime.site.audit).

Problems (verification fails): an edited line, a broken chain, an unparseable line that no
``torn_lines`` record accounts for, a keyed hash that does not match, no key for a keyed
log, a head record that does not match the log (lines cut off the end), an ``audit_gap``
record, no head record (a legacy log, or a deleted head). Notes (it passes): recorded
tears, a torn end not yet recorded, legacy lines the keyed chain covers, lines after the
head (written just before a crash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.runtime.site.audit import (
    GENESIS,
    default_key_path,
    head_path,
    head_problem,
    iter_lines,
    key_id,
    keyed_hash,
    line_hash,
    line_size,
    load_key,
    parse_row,
    read_head,
    same_digest,
)


@dataclass
class AuditReport:
    lines: int = 0  # log lines (torn ones not counted)
    keyed: int = 0  # lines with a keyed hash
    key_path: Path | None = None  # the key checked against; None when there was none
    legacy: bool = False  # no keyed line and no head: written before audit keys
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _span(numbers: list[int]) -> str:
    if len(numbers) > 1 and numbers[-1] - numbers[0] == len(numbers) - 1:
        return f"lines {numbers[0]}-{numbers[-1]}"
    return ("line " if len(numbers) == 1 else "lines ") + ", ".join(map(str, numbers))


class _Checker:
    """Streams the lines once; `finish` adds what only the whole log can tell."""

    def __init__(self, report: AuditReport, key: bytes | None, head: dict[str, Any] | None):
        self.report, self.key, self.head = report, key, head
        self.head_lines = head.get("lines") if head else None
        self.prev = GENESIS
        self.count = 0
        self.pending: list[tuple[int, int]] = []  # unparseable lines since the last good one
        self.unkeyed: list[int] = []  # lines without hmac before the first keyed one
        self.bad_macs: list[int] = []
        self.after_head = 0
        self.row_at_head: dict[str, Any] | None = None

    def line(self, n: int, raw: bytes) -> None:
        self.count = n
        if not raw.strip():
            return
        row = parse_row(raw)
        if row is None:
            self.pending.append((n, line_size(raw)))
            return
        self.report.lines += 1
        self._tears(n, row)
        problems = self.report.problems
        if row["hash"] != line_hash(row):
            problems.append(f"line {n}: content does not match its hash (edited)")
        if row.get("prev") != self.prev:
            problems.append(
                f"line {n}: previous-hash link broken (a line before it was "
                "deleted, inserted or edited)"
            )
        self.prev = row["hash"]
        if n == self.head_lines:
            self.row_at_head = row
        elif isinstance(self.head_lines, int) and n > self.head_lines:
            self.after_head += 1
        self._keyed(n, row)
        if row.get("event") == "audit_gap":
            problems.append(f"line {n}: at start the server found {row.get('found')}")

    def _tears(self, n: int, row: dict[str, Any]) -> None:
        if not self.pending:
            return
        numbers, sizes = [m for m, _ in self.pending], [s for _, s in self.pending]
        if row.get("event") == "torn_lines" and (row.get("lines"), row.get("bytes")) == (
            numbers,
            sizes,
        ):
            self.report.notes.append(
                f"line {n} records {_span(numbers)} ({sum(sizes)} bytes) torn by an "
                "interrupted write; skipped"
            )
        else:
            self.report.problems += [f"line {m}: not valid JSON" for m in numbers]
        self.pending = []

    def _keyed(self, n: int, row: dict[str, Any]) -> None:
        mac = row.get("hmac")
        if mac is None:
            if self.report.keyed:
                self.report.problems.append(
                    f"line {n}: no keyed hash (hmac) after keyed lines: not written by "
                    "`edgekit serve`"
                )
            else:
                self.unkeyed.append(n)
            return
        self.report.keyed += 1
        if self.key is not None and not same_digest(mac, keyed_hash(self.key, row["hash"])):
            self.bad_macs.append(n)

    def finish(self, key_file: Path, head_file: Path) -> None:
        report = self.report
        if self.pending:
            report.notes.append(
                f"{_span([m for m, _ in self.pending])} at the end: torn by an interrupted "
                "write, not recorded yet (the next `edgekit serve` start records it)"
            )
        self._finish_key(key_file)
        if self.head is None:
            self._no_head(head_file)
            return
        problem = head_problem(self.head, self.key, self.count, self.row_at_head)
        if problem:
            report.problems.append(f"{head_file}: {problem}")
            return
        if self.unkeyed:
            report.notes.append(
                f"{_span(self.unkeyed)}: unkeyed (legacy, written before audit keys), "
                "covered by the keyed chain after them"
            )
        if self.after_head:
            report.notes.append(
                f"{self.after_head} line(s) after the head record (written just before a "
                "crash; the next start updates the head)"
            )

    def _finish_key(self, key_file: Path) -> None:
        report = self.report
        if self.key is None:
            if report.keyed or self.head is not None:
                report.problems.append(
                    f"no audit key: {key_file} does not exist, so the keyed hashes cannot be "
                    "checked; pass --key FILE (the key `edgekit serve` wrote with)"
                )
            return
        if self.bad_macs and len(self.bad_macs) == report.keyed:
            report.problems.append(
                f"wrong key: none of the {report.keyed} keyed lines matches {key_file} "
                f"(key id {key_id(self.key)})"
            )
        else:
            report.problems += [
                f"line {n}: keyed hash (hmac) does not match: rewritten without the key"
                for n in self.bad_macs
            ]

    def _no_head(self, head_file: Path) -> None:
        report = self.report
        if report.keyed:
            report.problems.append(
                f"no head record {head_file}: lines cut off the end cannot be ruled out"
            )
            return
        if not report.lines:
            report.problems.append(f"an empty log with no head record {head_file}")
            return
        report.legacy = True
        report.problems.append(
            f"unkeyed (legacy) log: no keyed hashes and no head record ({head_file}), so "
            "anyone could have rewritten it; the chain is checked above (an `edgekit "
            "serve` on this log seals it from then on)"
        )


def verify_log(path: Path, key_path: Path | None = None) -> AuditReport:
    """Recompute every line's hash, keyed hash and link, compare the head record; report
    each problem by line number. The key is `default_key_path`'s unless named."""
    path = Path(path)
    key_file = key_path or default_key_path(path)
    key = load_key(key_file) if key_path is not None or key_file.is_file() else None
    report = AuditReport(key_path=key_file if key is not None else None)
    head = read_head(path)
    checker = _Checker(report, key, head)
    for n, raw in iter_lines(path):
        checker.line(n, raw)
    checker.finish(key_file, head_path(path))
    return report
