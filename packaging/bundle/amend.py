"""Add or replace files in a finished bundle (evaluation results, a re-rendered report).

The bundle is rebuilt beside itself and swapped in whole, as the writer does: every file
the manifest lists is hard-linked into a fresh temp directory (no copy of the GGUF, and the
hash cache still recognises it), the new files are written, and the manifest is rewritten.
Entries of files that did not change are carried over from the old manifest, never
rehashed, so a file that was tampered with before the amend still fails verification.

The signature covers the old manifest, so `manifest.sig` is not carried over: the caller
tells the user to re-sign. The tar beside the bundle, if any, is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.report import render_report
from edgekit.bundle.signing import SIGNATURE_FILE
from edgekit.bundle.writer import write_tar
from edgekit.errors import BundleError
from edgekit.fsutil import atomic_write_bytes, iter_files, replace_dir, temp_dir_beside

RESIGN = "the manifest changed, so manifest.sig was removed; re-sign with `edgekit bundle sign`"


@dataclass
class AmendResult:
    bundle: Path
    manifest: dict[str, Any]
    changed: list[str]
    signature_removed: bool
    tar: Path | None


def _check_rel(rel: str) -> None:
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or rel in ("", mf.MANIFEST_FILE, SIGNATURE_FILE):
        raise BundleError(f"invalid bundle path {rel!r}")


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:  # a filesystem without hard links: copy, keeping the mtime
        shutil.copy2(src, dest)


def _write_tar(bundle: Path, tar: bool | None, changed: bool) -> Path | None:
    """The tar beside the bundle: written when asked for and missing or out of date."""
    path = bundle.with_name(bundle.name + ".tar")
    if (tar and not path.is_file()) or (changed and (tar or (tar is None and path.is_file()))):
        write_tar(bundle, path)
    return path if path.is_file() else None


def _changed(entries: dict[str, dict[str, Any]], files: dict[str, bytes]) -> list[str]:
    return sorted(
        rel
        for rel, data in files.items()
        if entries.get(rel, {}).get(mf.K_SHA256) != hashlib.sha256(data).hexdigest()
    )


def amend_bundle(
    bundle: Path,
    files: dict[str, bytes],
    meta: dict[str, Any],
    note: str,
    render: bool = True,
    tar: bool | None = None,
) -> AmendResult:
    """Write ``files`` (bundle path -> content) into ``bundle`` and merge ``meta`` into its
    manifest's top level; records the change under K_AMENDED. ``render`` re-renders
    report/index.html from the new manifest and files. ``tar``: True writes the tar beside
    the bundle, None rewrites it only if it exists. Nothing changed: nothing is written."""

    bundle = Path(bundle)
    manifest = mf.read_manifest(bundle)
    for rel in files:
        _check_rel(rel)
    entries = {e[mf.K_PATH]: e for e in manifest.get(mf.K_FILES, [])}
    unlisted = [
        rel
        for rel in (p.relative_to(bundle).as_posix() for p in iter_files(bundle))
        if rel not in entries and rel not in (mf.MANIFEST_FILE, SIGNATURE_FILE)
    ]
    if unlisted:  # the swap would drop them; they fail verification anyway
        raise BundleError(
            f"{bundle}: files not in the manifest ({', '.join(unlisted[:5])}); "
            "run `edgekit bundle verify` and remove them first"
        )
    changed = _changed(entries, files)
    if not changed and all(manifest.get(k) == v for k, v in meta.items()):
        return AmendResult(bundle, manifest, [], False, _write_tar(bundle, tar, False))
    history = list(manifest.get(mf.K_AMENDED) or [])
    history.append(
        {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": changed,
            "note": note,
        }
    )
    new = {k: v for k, v in manifest.items() if k != mf.K_FILES} | meta
    new[mf.K_AMENDED] = history
    if render:

        def read(rel: str) -> bytes | None:
            path = bundle / rel
            return files[rel] if rel in files else path.read_bytes() if path.is_file() else None

        files = files | {mf.REPORT_INDEX: render_report(new, read).encode()}
        changed = _changed(entries, files)
    tmp = temp_dir_beside(bundle)
    try:
        for rel in entries:
            if rel not in files and (bundle / rel).is_file():
                _link(bundle / rel, tmp / rel)
        for rel, data in files.items():
            atomic_write_bytes(tmp / rel, data)
            entries[rel] = {
                mf.K_PATH: rel,
                mf.K_SIZE: len(data),
                mf.K_SHA256: hashlib.sha256(data).hexdigest(),
            }
        new[mf.K_FILES] = [entries[rel] for rel in sorted(entries)]
        atomic_write_bytes(tmp / mf.MANIFEST_FILE, json.dumps(new, indent=2).encode())
        signed = (bundle / SIGNATURE_FILE).is_file()
        replace_dir(tmp, bundle)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return AmendResult(bundle, new, changed, signed, _write_tar(bundle, tar, True))


def rerender_report(bundle: Path) -> AmendResult:
    """Render report/index.html from the bundle as it is; amend only if the page changed."""

    bundle = Path(bundle)

    def read(rel: str) -> bytes | None:
        path = bundle / rel
        return path.read_bytes() if path.is_file() else None

    html = render_report(mf.read_manifest(bundle), read).encode()
    return amend_bundle(bundle, {mf.REPORT_INDEX: html}, {}, "report re-rendered", render=False)
