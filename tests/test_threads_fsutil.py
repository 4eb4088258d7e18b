from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.fsutil import atomic_write_text, replace_dir, sha256_tree, temp_dir_beside
from edgekit.runtime.threads import default_threads, physical_cores, usable_cpus


def test_default_threads_are_the_physical_cores_as_llama_server_chooses(monkeypatch):
    """bench/serve_concurrency.py: leaving a core free (1 thread on 2 cores) served 0.45x
    of llama-server's tok/s at 8 clients; all physical cores match it."""
    monkeypatch.delenv("EDGEKIT_THREADS", raising=False)
    n = default_threads()
    assert 1 <= n <= usable_cpus()
    assert n == physical_cores()
    monkeypatch.setenv("EDGEKIT_THREADS", "3")
    assert default_threads() == 3


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")

    import os

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_replace_dir_swaps_whole_directories(tmp_path: Path):
    target = tmp_path / "t"
    target.mkdir()
    (target / "old").write_text("1")
    tmp = temp_dir_beside(target)
    (tmp / "new").write_text("2")
    before = sha256_tree(tmp)
    replace_dir(tmp, target)
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sha256_tree(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
