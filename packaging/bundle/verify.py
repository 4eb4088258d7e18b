"""Verifying a bundle (a folder or its .tar) or an adapter package: recompute every hash,
report each changed, missing or extra file, and check the signature when a public key is
given. `verify` is the one entry point every command and the site runtime use."""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.signing import SIGNATURE_FILE, signature_problems
from edgekit.errors import BundleError
from edgekit.fsutil import HashCache, iter_files, sha256_file


@dataclass
class VerifyReport:
    bundle: Path
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_bytes: bytes = b""  # what the signature covers
    signature: bytes | None = None  # manifest.sig's bytes, when there is one

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_bad(self) -> None:
        if self.problems:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            raise BundleError(
                f"{self.bundle}: bundle failed verification, refusing to use it\n{lines}"
            )


def _compare(
    report: VerifyReport,
    listed: dict[str, dict[str, Any]],
    present: dict[str, tuple[int, str | None]],
) -> None:
    for rel, entry in sorted(listed.items()):
        if rel not in present:
            report.problems.append(f"{rel}: missing")
            continue
        size, digest = present[rel]
        report.checked += 1
        if size != entry[mf.K_SIZE]:
            report.problems.append(f"{rel}: size {size} != {entry[mf.K_SIZE]} in manifest")
        elif digest is not None and digest != entry[mf.K_SHA256]:
            report.problems.append(f"{rel}: sha256 mismatch (file changed)")
    for rel in sorted(set(present) - set(listed) - {mf.MANIFEST_FILE, SIGNATURE_FILE}):
        report.problems.append(f"{rel}: extra file not in manifest")


def _listed(manifest: dict[str, Any], where: Path) -> dict[str, dict[str, Any]]:
    try:
        return {e[mf.K_PATH]: e for e in manifest[mf.K_FILES]}
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{where}: manifest has no valid '{mf.K_FILES}' list ({exc})") from None


def verify_dir(bundle: Path, full: bool = True, cache: HashCache | None = None) -> VerifyReport:
    """Check a bundle directory. ``full=False`` checks presence and sizes only; ``cache``
    lets large unchanged files skip rehashing."""
    manifest = mf.read_manifest(bundle)
    report = VerifyReport(bundle, manifest=manifest)

    def digest(p: Path) -> str | None:
        if not full:
            return None
        return cache.sha256(p) if cache is not None else sha256_file(p)

    present = {
        p.relative_to(bundle).as_posix(): (p.stat().st_size, digest(p)) for p in iter_files(bundle)
    }
    if cache is not None:
        cache.save()
    _compare(report, _listed(manifest, bundle), present)
    return report


def verify_tar(path: Path) -> VerifyReport:
    """Check a bundle .tar without unpacking it."""
    report = VerifyReport(path)
    present: dict[str, tuple[int, str | None]] = {}
    manifest: dict[str, Any] | None = None
    try:
        with tarfile.open(path) as tf:
            for member in tf:
                if not member.isfile():
                    continue
                rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
                f = tf.extractfile(member)
                if f is None:
                    raise BundleError(f"{path}: cannot read {member.name} from the archive")
                h = hashlib.sha256()
                data = b""
                while block := f.read(1 << 20):
                    h.update(block)
                    if rel in (mf.MANIFEST_FILE, SIGNATURE_FILE):
                        data += block
                present[rel] = (member.size, h.hexdigest())
                if rel == mf.MANIFEST_FILE:
                    manifest, report.manifest_bytes = json.loads(data), data
                elif rel == SIGNATURE_FILE:
                    report.signature = data
    except (tarfile.TarError, OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: unreadable bundle archive ({exc})") from None
    if manifest is None:
        raise BundleError(f"{path}: archive has no {mf.MANIFEST_FILE}")
    report.manifest = manifest
    _compare(report, _listed(manifest, path), present)
    return report


def verify(
    path: Path,
    pubkey: Path | None = None,
    full: bool = True,
    cache: HashCache | None = None,
) -> VerifyReport:
    """Check a bundle folder or .tar (or an adapter package): every file against the
    manifest, and with ``pubkey`` the manifest's Ed25519 signature under that key.
    ``full=False`` checks presence and sizes only; ``cache`` lets large unchanged files
    skip rehashing (folders only)."""
    path = Path(path)
    if path.is_file() and tarfile.is_tarfile(path):
        report = verify_tar(path)
    elif not path.exists():
        raise BundleError(f"{path}: no such bundle")
    else:
        report = verify_dir(path, full=full, cache=cache)
        sig = path / SIGNATURE_FILE
        report.signature = sig.read_bytes() if sig.is_file() else None
        report.manifest_bytes = (path / mf.MANIFEST_FILE).read_bytes()
    if pubkey is not None:
        report.problems += signature_problems(report.manifest_bytes, report.signature, pubkey)
    return report
