"""Ed25519 signing: a signed bundle verifies; each tamper case and a wrong key are named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from serving import RunningServer, refused_start

from conftest import run_cli


@pytest.fixture
def signed(tiny_project, tmp_path: Path):
    _, result = tiny_project
    bundle = tmp_path / result.bundle.name
    shutil.copytree(result.bundle, bundle)
    run_cli("keygen", "--out", str(tmp_path / "keys"), check=True)
    run_cli(
        "bundle", "sign", str(bundle), "--key", str(tmp_path / "keys" / "edgekit.key"), check=True
    )
    return bundle, tmp_path / "keys" / "edgekit.pub"


def verify(bundle: Path, pub: Path):
    return run_cli("bundle", "verify", str(bundle), "--pubkey", str(pub))


def test_signed_bundle_verifies_and_private_key_is_private(signed, tmp_path: Path):
    bundle, pub = signed
    ok = verify(bundle, pub)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (tmp_path / "keys" / "edgekit.key").stat().st_mode & 0o777 == 0o600
    again = run_cli("keygen", "--out", str(tmp_path / "keys"))
    assert again.returncode == 1 and "already holds a key pair" in again.stderr


@pytest.mark.parametrize("case", ["changed", "missing", "extra", "renamed", "manifest"])
def test_each_tamper_case_is_named(signed, case: str):
    bundle, pub = signed
    readme = bundle / "README.txt"
    if case == "changed":
        readme.write_text(readme.read_text().upper())
        expect = "README.txt: s"
    elif case == "missing":
        readme.unlink()
        expect = "README.txt: missing"
    elif case == "extra":
        (bundle / "model" / "evil.gguf").write_bytes(b"x")
        expect = "model/evil.gguf: extra file"
    elif case == "renamed":
        readme.rename(bundle / "README.md")
        expect = "README.md: extra file"
    else:  # edit the manifest to hide a change: the signature catches it
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["version"] = "9.9.9"
        (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
        expect = "signature does not match"
    proc = verify(bundle, pub)
    assert proc.returncode == 1 and expect in proc.stdout, proc.stdout


def test_wrong_key_is_refused(signed, tmp_path: Path):
    bundle, _ = signed
    run_cli("keygen", "--out", str(tmp_path / "other"), check=True)
    proc = verify(bundle, tmp_path / "other" / "edgekit.pub")
    assert proc.returncode == 1 and "wrong key" in proc.stdout


def test_unsigned_bundle_fails_signature_check(tiny_project, tmp_path: Path):
    _, result = tiny_project
    run_cli("keygen", "--out", str(tmp_path / "k"), check=True)
    proc = verify(result.bundle, tmp_path / "k" / "edgekit.pub")
    assert proc.returncode == 1 and "not signed" in proc.stdout


def _flip_one_byte(path: Path) -> None:
    """Change one byte in the middle of ``path`` (same size: only the hash can tell)."""
    with open(path, "r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("case", ["model-byte", "manifest"])
def test_serve_with_pubkey_refuses_a_tampered_bundle(signed, case: str):
    """`edgekit serve --pubkey` on a signed bundle changed after signing exits non-zero,
    names the problem and never answers /ready."""
    bundle, pub = signed
    if case == "model-byte":
        gguf = next((bundle / "model").glob("*.gguf"))
        _flip_one_byte(gguf)
        expect = f"model/{gguf.name}: sha256 mismatch"
    else:  # hide nothing, change what the manifest says: only the signature catches it
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["version"] = "9.9.9"
        (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
        expect = "manifest.json: signature does not match"
    code, log = refused_start(bundle, "--no-auth", "--pubkey", str(pub))
    assert code != 0, log
    assert "bundle failed verification, refusing to use it" in log and expect in log, log
    assert "Traceback" not in log, log  # a clear message, not a crash


def test_serve_with_pubkey_starts_the_untampered_signed_bundle(signed):
    bundle, pub = signed
    server = RunningServer(bundle, "--no-auth", "--pubkey", str(pub))
    try:
        assert httpx.get(f"{server.url}/ready").status_code == 200
    finally:
        server.stop()
