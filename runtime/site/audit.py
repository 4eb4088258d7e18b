"""Tamper-evident audit log: one JSON line per answer (and per adapter switch).

Lines. Each carries ``prev`` (the previous line's ``hash``), ``hash`` (sha256 of the line's
canonical JSON without ``hash`` and ``hmac``: the chain anyone can recompute) and ``hmac``
(HMAC-SHA256 of ``hash`` under the site's audit key). Editing a line breaks its hash;
deleting, inserting or reordering breaks the chain; recomputing the hashes after a rewrite
still fails the HMACs unless the key is held.

Head record. ``<log>.head``, replaced atomically after every append, holds the line count
and the last hash, keyed the same way. Whole lines cut off the end leave the log shorter
than its head says.

Torn lines. A server killed mid-write leaves a partial last line. The next open terminates
it and appends a keyed ``torn_lines`` record (line numbers and byte counts) chained to the
last good hash, with a logged warning. `verify_log` reports a recorded tear as a note;
any other unparseable line is a problem.

Gaps. When the head does not match the log at open (lines cut off, head forged or deleted
from a keyed log), the server logs an error, appends an ``audit_gap`` record saying what it
found and goes on serving; `verify_log` fails on that record from then on.

Key. 32 random bytes in hex, mode 0600, never overwritten; `default_key_path` says where.
Legacy logs (before keys: no ``hmac``, no head) verify as "unkeyed (legacy)" and fail,
since anyone could have rewritten them; a `serve` on one seals it: the keyed head and lines
appended from then on cover its chain.

Content. Hashes and ids only, unless `serve --audit-text` adds question and answer text.
Checking: `edgekit.runtime.site.audit_verify.verify_log`. Not covered: whoever can write the
files may put back an older log together with its older head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit.errors import AuditError
from edgekit.fsutil import atomic_write_json, create_private_file

GENESIS = "0" * 64
KEY_NAME = "audit.key"  # in an `edgekit install` root
TAIL_LINES = 64  # lines an open keeps to find the last good one

log = logging.getLogger("edgekit.serve")


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def line_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in ("hash", "hmac")}
    return hashlib.sha256(_canonical(body)).hexdigest()


def keyed_hash(key: bytes, data: str | bytes) -> str:
    msg = data.encode() if isinstance(data, str) else data
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def same_digest(a: object, b: str) -> bool:
    return isinstance(a, str) and hmac.compare_digest(a, b)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- keys and paths ---------------------------------------------------------------------


def head_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".head")


def default_key_path(log_path: Path) -> Path:
    """The audit key for a log, when none is named: ``<log>.key`` if it exists, else
    ``audit.key`` of the `edgekit install` root the log lies under (a folder holding
    ``releases/``), else ``<log>.key`` (which the first `serve` creates)."""
    beside = log_path.with_name(log_path.name + ".key")
    if beside.is_file():
        return beside
    for parent in Path(os.path.abspath(log_path)).parents:
        if (parent / KEY_NAME).is_file() and (parent / "releases").is_dir():
            return parent / KEY_NAME
    return beside


def create_key(path: Path) -> bool:
    """Create a new random audit key (mode 0600); False when one exists (it is kept)."""
    return create_private_file(path, (secrets.token_hex(32) + "\n").encode())


def load_key(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise AuditError(f"cannot read the audit key {path}: {exc.strerror}") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise AuditError(f"{path} is not an audit key (expected 64 hex characters)")
    return key


def key_id(key: bytes) -> str:
    """A short public name for a key, so a wrong key can be told from a rewritten log."""
    return hashlib.sha256(b"edgekit-audit-key:" + key).hexdigest()[:16]


# --- reading ----------------------------------------------------------------------------


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes with any newline) for every line, streamed."""
    if not path.is_file():
        return
    with open(path, "rb") as f:
        yield from enumerate(f, start=1)


def parse_row(raw: bytes) -> dict[str, Any] | None:
    """A log row, or None for a line that is not one (torn, or not JSON)."""
    try:
        row = json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None
    return row if isinstance(row, dict) and isinstance(row.get("hash"), str) else None


def line_size(raw: bytes) -> int:
    return len(raw) - raw.endswith(b"\n")


def read_head(log_path: Path) -> dict[str, Any] | None:
    """The head record; None when there is none, ``{}`` when it is unreadable."""
    try:
        head = json.loads(head_path(log_path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return head if isinstance(head, dict) else {}


def head_problem(
    head: dict[str, Any], key: bytes | None, count: int, row_at_head: dict[str, Any] | None
) -> str | None:
    """What is wrong between a head record and the log (``count`` lines, the row at the
    line the head names), or None. Without a key the head's HMAC is not checked."""
    lines, last = head.get("lines"), head.get("hash")
    if not isinstance(lines, int) or not isinstance(last, str):
        return "the head record is damaged (no line count and hash)"
    if key is not None:
        if head.get("key_id") != key_id(key):
            return (
                f"the head record names audit key {head.get('key_id')}, not {key_id(key)}: "
                "a wrong key, or a forged head"
            )
        body = {k: v for k, v in head.items() if k != "hmac"}
        if not same_digest(head.get("hmac"), keyed_hash(key, _canonical(body))):
            return "the head record's keyed hash does not match: it was forged or edited"
    if lines > count:
        return (
            f"the head record says {lines} lines, the log has {count}: lines were cut off the end"
        )
    if lines and (row_at_head is None or row_at_head["hash"] != last):
        return (
            f"line {lines} is not the line the head record names: the end of the log was "
            "cut off or rewritten"
        )
    return None


# --- writing ----------------------------------------------------------------------------


_WRITER_LOCKS: dict[str, list[Any]] = {}  # log path -> [lock file, open AuditLogs]


def _hold_writer_lock(owner: object, path: Path) -> None:
    """An exclusive lock on ``<log>.lock`` while an AuditLog of this process is open on the
    log (released when the last one is garbage-collected): two servers (replicas behind a
    balancer) appending to one chain would break it."""
    import fcntl  # lazy: POSIX only

    name = os.path.realpath(path)
    held = _WRITER_LOCKS.get(name)
    if held is None:
        f = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise AuditError(
                f"another edgekit serve is writing the audit log {path}: give each replica "
                "its own log (serve --audit-log FILE, e.g. one per host and port); `edgekit "
                "audit verify` checks each"
            ) from None
        held = _WRITER_LOCKS[name] = [f, 0]
    held[1] += 1
    weakref.finalize(owner, _release_writer_lock, name)


def _release_writer_lock(name: str) -> None:
    held = _WRITER_LOCKS.get(name)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del _WRITER_LOCKS[name]
        held[0].close()  # closing the file drops the lock


class AuditLog:
    """Appends keyed, chained lines; at open, records torn lines and head mismatches."""

    def __init__(self, path: Path, key_path: Path | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key_path = key_path or default_key_path(self.path)
        if create_key(self.key_path):
            log.warning(
                "audit: created key %s (mode 0600); keep it, `edgekit audit verify` needs it",
                self.key_path,
            )
        self.key = load_key(self.key_path)
        self.key_id = key_id(self.key)
        _hold_writer_lock(self, self.path)
        self._lock = threading.Lock()
        self._last = GENESIS
        self._count = 0
        self._newline_due = False
        with self._lock:
            self._open()

    def _open(self) -> None:
        head = read_head(self.path)
        theirs = head.get("key_id") if head else None
        if isinstance(theirs, str) and theirs != self.key_id:  # before writing anything
            raise AuditError(
                f"{self.path} was written with audit key {theirs}, but {self.key_path} is "
                f"key {self.key_id}: name the log's key (serve --audit-key FILE)"
            )
        want = head.get("lines") if head else None
        tail: deque[tuple[int, bytes]] = deque(maxlen=TAIL_LINES)
        row_at_head = None
        for n, raw in iter_lines(self.path):
            self._count = n
            tail.append((n, raw))
            if n == want:
                row_at_head = parse_row(raw)
        self._newline_due = bool(tail) and not tail[-1][1].endswith(b"\n")
        torn: list[tuple[int, bytes]] = []
        last, last_n = None, 0
        for n, raw in reversed(tail):
            if raw.strip():
                last, last_n = parse_row(raw), n
                if last is not None:
                    break
                torn.insert(0, (n, raw))
        if last is None and self._count > len(tail):
            raise AuditError(
                f"{self.path}: none of its last {TAIL_LINES} lines is a log line; move it "
                "aside (`edgekit audit verify` it) and start a new log"
            )
        self._last = last["hash"] if last else GENESIS
        if torn:
            self._record_tear(torn, last_n if last else 0)
        gap = self._gap(head, last, row_at_head)
        if gap:
            log.error("audit log %s: %s; recorded in the log", self.path, gap)
            self._write({"event": "audit_gap", "found": gap})
        self.path.touch()  # a new log exists from the start, beside its head
        self._write_head()

    def _record_tear(self, torn: list[tuple[int, bytes]], last_good: int) -> None:
        numbers, sizes = [n for n, _ in torn], [line_size(raw) for _, raw in torn]
        log.warning(
            "audit log %s: line(s) %s torn by an interrupted write (%d bytes): recorded and "
            "skipped, the chain goes on from line %d",
            self.path,
            ", ".join(map(str, numbers)),
            sum(sizes),
            last_good,
        )
        self._write({"event": "torn_lines", "lines": numbers, "bytes": sizes})

    def _gap(
        self,
        head: dict[str, Any] | None,
        last: dict[str, Any] | None,
        row_at_head: dict[str, Any] | None,
    ) -> str | None:
        if head is None:
            if last is not None and "hmac" in last:
                return f"the head record {head_path(self.path)} was missing"
            return None  # a new log, or a legacy one: the head written now seals it
        return head_problem(head, self.key, self._count, row_at_head)

    def _write(self, record: dict[str, Any]) -> str:
        row = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            **record,
            "prev": self._last,
        }
        row["hash"] = line_hash(row)
        row["hmac"] = keyed_hash(self.key, row["hash"])
        text = ("\n" if self._newline_due else "") + json.dumps(row, sort_keys=True) + "\n"
        with open(self.path, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        self._newline_due = False
        self._last = row["hash"]
        self._count += 1
        return row["hash"]

    def _write_head(self) -> None:
        body = {"lines": self._count, "hash": self._last, "key_id": self.key_id}
        atomic_write_json(
            head_path(self.path), {**body, "hmac": keyed_hash(self.key, _canonical(body))}
        )

    def append(self, **record: Any) -> str:
        with self._lock:
            digest = self._write(record)
            self._write_head()
            return digest
