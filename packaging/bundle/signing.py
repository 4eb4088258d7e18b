"""Ed25519 signatures over a bundle's manifest (which covers every file's sha256 and size).

    edgekit keygen --out keys/            -> keys/edgekit.key (private), keys/edgekit.pub
    edgekit bundle sign BUNDLE --key keys/edgekit.key
    edgekit bundle verify BUNDLE --pubkey keys/edgekit.pub

The signature file `manifest.sig` sits beside the manifest (the manifest cannot list its own
signature). It holds the signature and the public key's fingerprint, so a wrong key is
reported as such rather than as a bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from edgekit import deps
from edgekit.bundle import manifest as mf
from edgekit.errors import BundleError
from edgekit.fsutil import atomic_write_bytes, atomic_write_json

SIGNATURE_FILE = "manifest.sig"
PRIVATE_NAME, PUBLIC_NAME = "edgekit.key", "edgekit.pub"


def _crypto():  # type: ignore[no-untyped-def]
    deps.require("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return serialization, ed25519


def fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def keygen(out: Path) -> tuple[Path, Path]:
    """Write a new private key (mode 0600) and its public key; refuses to overwrite."""
    serialization, ed25519 = _crypto()
    out.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    if priv_path.exists() or pub_path.exists():
        raise BundleError(f"{out} already holds a key pair; choose another --out")
    key = ed25519.Ed25519PrivateKey.generate()
    priv = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    atomic_write_bytes(priv_path, priv)
    os.chmod(priv_path, 0o600)
    atomic_write_bytes(pub_path, pub)
    return priv_path, pub_path


def _raw_public(public_key: object) -> bytes:
    serialization, _ = _crypto()
    return public_key.public_bytes(
        serialization.Encoding.Raw,  # type: ignore[attr-defined]
        serialization.PublicFormat.Raw,
    )


def sign_bundle(bundle: Path, key_path: Path) -> Path:
    """Sign the manifest's exact bytes; writes BUNDLE/manifest.sig atomically."""
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, OSError) as exc:
        raise BundleError(f"{key_path}: not a readable Ed25519 private key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BundleError(f"{key_path}: not an Ed25519 key")
    mf.read_manifest(bundle)  # refuse to sign something that is not a bundle
    data = (bundle / mf.MANIFEST_FILE).read_bytes()
    sig = {
        "algorithm": "ed25519",
        "key_fingerprint": fingerprint(_raw_public(key.public_key())),
        "signature": base64.b64encode(key.sign(data)).decode(),
    }
    atomic_write_json(bundle / SIGNATURE_FILE, sig)
    return bundle / SIGNATURE_FILE


def signature_problems(
    manifest: bytes, signature_file: bytes | None, pubkey_path: Path
) -> list[str]:
    """Problems with ``signature_file`` (manifest.sig's bytes; None: absent) as a signature
    of ``manifest`` (manifest.json's bytes) under ``pubkey_path`` (empty list: valid)."""
    serialization, ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    if signature_file is None:
        return [f"{SIGNATURE_FILE}: missing (the bundle is not signed)"]
    try:
        pub = serialization.load_pem_public_key(pubkey_path.read_bytes())
        sig = json.loads(signature_file)
        signature = base64.b64decode(sig["signature"])
    except (ValueError, OSError, KeyError, TypeError) as exc:
        return [f"{SIGNATURE_FILE}: unreadable signature or public key ({exc})"]
    if not isinstance(pub, ed25519.Ed25519PublicKey):
        return [f"{pubkey_path}: not an Ed25519 public key"]
    if sig.get("key_fingerprint") != fingerprint(_raw_public(pub)):
        return [
            f"{SIGNATURE_FILE}: signed by key {sig.get('key_fingerprint')}, not by "
            f"{pubkey_path.name} ({fingerprint(_raw_public(pub))}): wrong key"
        ]
    try:
        pub.verify(signature, manifest)
    except InvalidSignature:
        return [f"{mf.MANIFEST_FILE}: signature does not match (manifest changed after signing)"]
    return []
