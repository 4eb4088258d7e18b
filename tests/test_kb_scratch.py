"""A KB opened read-only works in a private copy (edgekit.kb.scratch); a reader that dies
without cleaning up (SIGKILL here; `edgekit serve` stopped by SIGTERM exits the same way,
past atexit) leaves its copy behind, and the next read-only open removes it while a live
reader's copy stays."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from edgekit.kb.ingest import ingest_folder
from edgekit.kb.store import KnowledgeBase

DOC = "# Fans\n\nA stopped fan must run for fifteen minutes before anyone re-enters.\n"
READER = """
import os, signal, sys
from pathlib import Path
from edgekit.kb.store import KnowledgeBase
kb = KnowledgeBase.open_read_only(Path(sys.argv[1]))
print(kb.scratch.path, flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()  # a live reader: holds its copy until stdin closes
"""


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("docs")
    (docs / "fans.md").write_text(DOC)
    db = tmp_path_factory.mktemp("kb") / "kb"
    ingest_folder(docs, db, prefix="docs/")
    return db


def _reader(kb_dir: Path, tmp: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    env = os.environ | {"TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, str(kb_dir), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_dead_readers_copy_is_removed_by_the_next_open(
    kb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, live_copy = _reader(kb_dir, tmp_path, "live")
    try:
        dead, dead_copy = _reader(kb_dir, tmp_path, "die")
        assert dead.wait(timeout=60) == -9
        assert dead_copy.parent == tmp_path and dead_copy.is_dir()  # left behind
        assert live_copy.is_dir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        kb = KnowledgeBase.open_read_only(kb_dir)
        assert kb.scratch is not None
        own = kb.scratch.path
        assert not dead_copy.exists()
        assert live_copy.is_dir()  # its process still reads it
        assert kb.query("How long must a stopped fan run?")
        kb.close()
        assert not own.exists()
    finally:
        live.communicate("", timeout=60)
    assert not live_copy.exists()  # removed at its exit
