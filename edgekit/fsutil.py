"""Atomic writes and content hashing. Every state-changing write goes through here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object in canonical form (sorted keys)."""
    return sha256_text(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str))


def iter_files(root: Path) -> Iterable[Path]:
    """Every regular file under root, sorted by relative path."""
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.as_posix())


def is_source_file(rel: Path) -> bool:
    """False for hidden files and Python bytecode caches: never content, never shipped."""
    return not any(part.startswith(".") or part == "__pycache__" for part in rel.parts)


def sha256_tree(root: Path, names: Iterable[str] | None = None) -> str:
    """One hash over a directory: relative paths and file hashes, in sorted order.

    ``names``, when given, restricts the hash to files whose name is in it.
    """
    wanted = set(names) if names is not None else None
    entries = []
    for p in iter_files(root):
        if wanted is not None and p.name not in wanted:
            continue
        if not is_source_file(p.relative_to(root)):
            continue
        entries.append([p.relative_to(root).as_posix(), sha256_file(p)])
    return sha256_json(entries)


def _temp_beside(path: Path, data: bytes, mode: int) -> Path:
    """``data`` written and fsynced to a new temp file (``mode``) in ``path``'s folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then rename over ``path``."""
    tmp = _temp_beside(path, data, 0o644)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def create_private_file(path: Path, data: bytes) -> bool:
    """Create ``path`` (mode 0600) holding ``data``, atomically; never replace an existing
    file: False when ``path`` is already there (it is left as it was)."""
    tmp = _temp_beside(path, data, 0o600)
    try:
        os.link(tmp, path)  # unlike rename, fails when the target exists
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


def temp_dir_beside(target: Path) -> Path:
    """A fresh temp directory next to ``target`` (same filesystem, so rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o755)
    return tmp


def replace_dir(tmp: Path, target: Path) -> None:
    """Move a finished temp directory into place, replacing ``target`` if it exists.

    The old directory is renamed aside first and removed only after the new one is in
    place, so an interruption leaves either the old or the new directory at ``target``.
    """
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def edgekit_home() -> Path:
    """Cache root: ``$EDGEKIT_HOME`` or ``~/.cache/edgekit``."""
    env = os.environ.get("EDGEKIT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgekit"


SMALL_FILE = 8 << 20  # always rehashed; larger files may use the hash cache


class HashCache:
    """sha256 of large files keyed by (path, size, mtime_ns, inode), so restarting a server
    does not rehash gigabytes. Any change to a file's size, mtime or inode misses the cache.
    Kept in $EDGEKIT_HOME/hash-cache.json; used for bundles and for model sources."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or edgekit_home() / "hash-cache.json"
        try:
            self.rows: dict[str, list[Any]] = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            self.rows = {}
        self.dirty = False
        self.hits = 0

    def sha256(self, p: Path) -> str:
        st = p.stat()
        if st.st_size < SMALL_FILE:
            return sha256_file(p)
        key, stamp = str(p.resolve()), [st.st_size, st.st_mtime_ns, st.st_ino]
        row = self.rows.get(key)
        if row and row[:3] == stamp:
            self.hits += 1
            return str(row[3])
        digest = sha256_file(p)
        self.rows[key] = [*stamp, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            atomic_write_json(self.path, self.rows)
