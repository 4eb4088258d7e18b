"""Private working folders for a KB opened read-only (edgekit.kb.store.KnowledgeBase.
open_read_only copies Chroma's files into one, so answering never changes a signed bundle).

A folder is removed by ``close()`` or at exit, but a reader that dies without running its
exit handlers leaves its copy behind: killed (SIGKILL, the OOM killer), or `edgekit serve`
stopped by SIGTERM (uvicorn shuts down, then raises the signal again with its default
action, past ``atexit``). A site server restarted daily would leave a KB copy in the temp
folder every day. So each live folder holds a lock file locked (shared) for as long as its
process lives, and every new read-only open first removes the folders whose lock nobody
holds: the kernel releases a dead process's locks however it died, across containers and
pid namespaces that share the temp folder. Where the temp folder cannot lock (some network
or FUSE mounts) a copy is removed at exit only, as before.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # not on Linux/macOS: no sweep, the folders are removed at exit only
    fcntl = None  # type: ignore[assignment]

PREFIX = "edgekit-kb-"
LOCK_FILE = ".in-use"


class Scratch:
    """A private temp folder, claimed by this process until :meth:`remove`."""

    def __init__(self, root: Path | None = None) -> None:
        root = Path(root or tempfile.gettempdir())
        sweep(root)
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
        self._lock = _claim(self.path)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _claim(folder: Path) -> IO[str] | None:
    """Lock ``folder``'s lock file (shared) for this process's life. The file is locked
    under another name and then renamed, so a sweep never finds it unlocked."""
    if fcntl is None:
        return None
    pending = folder / (LOCK_FILE + ".new")
    try:
        handle = open(pending, "w")  # noqa: SIM115 - held open: the lock lives with it
    except OSError:
        return None  # no lock: removed at exit only, as without fcntl
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)
        os.replace(pending, folder / LOCK_FILE)
    except OSError:  # a file system without flock (some network or FUSE mounts)
        handle.close()
        pending.unlink(missing_ok=True)
        return None
    return handle


def sweep(root: Path) -> list[Path]:
    """Remove the read-only copies under ``root`` whose process is gone (their lock file
    is not locked); returns them. A folder without a lock file (an older edgekit's, or one
    being made) is left alone."""
    removed: list[Path] = []
    if fcntl is None:
        return removed
    for folder in root.glob(PREFIX + "*"):
        lock = folder / LOCK_FILE
        try:
            handle = open(lock)  # noqa: SIM115 - closed below
        except OSError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live reader holds it
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
