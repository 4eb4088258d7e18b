"""BundleWriter keeps an explicit state; verify catches each kind of tampering."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from edgekit.bundle import manifest as mf
from edgekit.bundle.verify import verify
from edgekit.bundle.writer import BundleWriter
from edgekit.errors import BundleError


def small_bundle(tmp_path: Path) -> Path:
    w = BundleWriter(tmp_path / "b-1").open()
    w.add_bytes(b"hello", "a.txt")
    w.add_bytes(b"model", "model/m.gguf")
    w.finalize({mf.K_NAME: "b", mf.K_VERSION: "1"})
    return w.commit(tar=True)


def test_out_of_order_calls_are_refused(tmp_path: Path):
    w = BundleWriter(tmp_path / "x")
    with pytest.raises(BundleError, match="expected open"):
        w.add_bytes(b"x", "a")
    w.open()
    with pytest.raises(BundleError, match="expected finalized"):
        w.commit()
    w.add_bytes(b"x", "a")
    with pytest.raises(BundleError, match="already added"):
        w.add_bytes(b"y", "a")
    for bad in ("../evil", "/abs", mf.MANIFEST_FILE):
        with pytest.raises(BundleError, match="invalid bundle path"):
            w.add_bytes(b"x", bad)
    w.finalize({})
    with pytest.raises(BundleError, match="is finalized"):
        w.add_bytes(b"x", "late")
    w.commit(tar=False)
    with pytest.raises(BundleError):
        w.finalize({})
    assert (tmp_path / "x" / mf.MANIFEST_FILE).is_file()


def test_abort_leaves_nothing(tmp_path: Path):
    w = BundleWriter(tmp_path / "x").open()
    w.add_bytes(b"x", "a")
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_verify_dir_and_tar(tmp_path: Path):
    bundle = small_bundle(tmp_path)
    assert verify(bundle).ok and verify(bundle).checked == 2
    assert verify(bundle.with_name("b-1.tar")).ok
    (bundle / "a.txt").write_bytes(b"HELLO")  # same size, other bytes
    assert verify(bundle).problems == ["a.txt: sha256 mismatch (file changed)"]
    assert verify(bundle, full=False).ok  # size-only check cannot see it; full can


def test_renamed_file_is_missing_plus_extra(tmp_path: Path):
    bundle = small_bundle(tmp_path)
    (bundle / "a.txt").rename(bundle / "b.txt")
    problems = verify(bundle).problems
    assert "a.txt: missing" in problems and "b.txt: extra file not in manifest" in problems


def test_tampered_tar_member_is_named(tmp_path: Path):
    bundle = small_bundle(tmp_path)
    (bundle / "model" / "m.gguf").write_bytes(b"MODEL")
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tf:
        for p in sorted(bundle.rglob("*")):
            if p.is_file():
                tf.add(p, arcname=f"b-1/{p.relative_to(bundle).as_posix()}")
    assert verify(bad).problems == ["model/m.gguf: sha256 mismatch (file changed)"]


def test_not_a_bundle_and_unknown_format(tmp_path: Path):
    with pytest.raises(BundleError, match="no such bundle"):
        verify(tmp_path / "nope")
    (tmp_path / "d").mkdir()
    with pytest.raises(BundleError, match="not an edgekit bundle"):
        verify(tmp_path / "d")
    (tmp_path / "d" / mf.MANIFEST_FILE).write_text('{"format_version": 99}')
    with pytest.raises(BundleError, match="format 99 is not supported"):
        verify(tmp_path / "d")
