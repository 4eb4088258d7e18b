"""BundleWriter: builds a bundle in a temp directory and moves it into place when complete.

States: NEW -> OPEN (files may be added) -> FINALIZED (manifest written) -> COMMITTED.
Calls out of that order raise, so a manifest can never miss a file or describe a
half-written bundle.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import tarfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from edgekit import __version__
from edgekit.bundle import manifest as mf
from edgekit.errors import BundleError
from edgekit.fsutil import (
    atomic_write_bytes,
    is_source_file,
    iter_files,
    replace_dir,
    sha256_file,
    temp_dir_beside,
)


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    FINALIZED = "finalized"
    COMMITTED = "committed"


class BundleWriter:
    def __init__(self, target: Path) -> None:
        self.target = target
        self._state = _State.NEW
        self._tmp: Path | None = None

    def _expect(self, state: _State, action: str) -> None:
        if self._state is not state:
            raise BundleError(
                f"cannot {action}: bundle writer is {self._state.value}, expected {state.value}"
            )

    def _staging(self) -> Path:
        """The temp directory the bundle is built in (only between open and commit)."""
        if self._tmp is None:
            raise BundleError(f"bundle writer is {self._state.value}: it has no open directory")
        return self._tmp

    def _dest(self, rel: str) -> Path:
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or rel in ("", mf.MANIFEST_FILE):
            raise BundleError(f"invalid bundle path {rel!r}")
        dest = self._staging() / pure
        if dest.exists():
            raise BundleError(f"{rel} was already added to the bundle")
        dest.parent.mkdir(parents=True, exist_ok=True)
        return dest

    def open(self) -> BundleWriter:
        self._expect(_State.NEW, "open")
        self._tmp = temp_dir_beside(self.target)
        self._state = _State.OPEN
        return self

    def add_file(self, src: Path, rel: str) -> None:
        """Copy ``src`` into the bundle at ``rel``.

        Always a copy, never a hard link: editing a shipped bundle must not reach back into
        the build cache it came from.
        """
        self._expect(_State.OPEN, f"add {rel}")
        shutil.copyfile(src, self._dest(rel))

    def add_tree(self, src: Path, rel: str) -> None:
        for p in iter_files(src):
            if is_source_file(p.relative_to(src)):
                self.add_file(p, f"{rel}/{p.relative_to(src).as_posix()}")

    def add_bytes(self, data: bytes, rel: str) -> None:
        self._expect(_State.OPEN, f"add {rel}")
        self._dest(rel).write_bytes(data)

    def read(self, rel: str) -> bytes | None:
        """Content of a file already added (None if absent), e.g. to render a report."""
        self._expect(_State.OPEN, f"read {rel}")
        path = self._staging() / PurePosixPath(rel)
        return path.read_bytes() if path.is_file() else None

    def finalize(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Hash every file added and write the manifest. Returns the manifest."""
        self._expect(_State.OPEN, "finalize")
        tmp = self._staging()
        files = [
            {
                mf.K_PATH: p.relative_to(tmp).as_posix(),
                mf.K_SIZE: p.stat().st_size,
                mf.K_SHA256: sha256_file(p),
            }
            for p in iter_files(tmp)
        ]
        manifest = {
            mf.K_FORMAT: mf.FORMAT_VERSION,
            mf.K_EDGEKIT_VERSION: __version__,
            mf.K_CREATED: datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **meta,
            mf.K_FILES: files,
        }
        atomic_write_bytes(tmp / mf.MANIFEST_FILE, json.dumps(manifest, indent=2).encode())
        self._state = _State.FINALIZED
        return manifest

    def commit(self, tar: bool = True) -> Path:
        """Move the finished bundle into place (replacing an older one), then write the tar."""
        self._expect(_State.FINALIZED, "commit")
        replace_dir(self._staging(), self.target)
        self._state = _State.COMMITTED
        if tar:
            write_tar(self.target, self.target.with_name(self.target.name + ".tar"))
        return self.target

    def abort(self) -> None:
        """Throw away a bundle that was not committed."""
        if self._tmp is not None and self._state is not _State.COMMITTED:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._state = _State.COMMITTED


def write_tar(bundle_dir: Path, out: Path) -> Path:
    """Uncompressed tar of the bundle (GGUF does not compress); members under <name>/."""
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w") as tf:
        for p in iter_files(bundle_dir):
            tf.add(p, arcname=f"{bundle_dir.name}/{p.relative_to(bundle_dir).as_posix()}")
    os.replace(tmp, out)
    return out
