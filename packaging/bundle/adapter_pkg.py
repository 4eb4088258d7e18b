"""Adapter packages: the small signed update an HQ sends to a site (`edgekit adapter package`).

A package is a mini-bundle with the same manifest format (every file's sha256 and size) and
the same Ed25519 `manifest.sig`, written as a directory and an uncompressed tar::

    manifest.json      kind=adapter-package, bundle_id, version, base_sha256, ...
    manifest.sig
    adapter.gguf       the LoRA for llama.cpp (what the site runs)
    peft/              the PEFT form (what HQ trains on next time)
    eval.jsonl         the eval set the site's gate scores it on

The base hash is that of the model the adapter was trained on; a site refuses a package
whose base is not the model its bundle's GGUFs were converted from.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.bundle import manifest as mf
from edgekit.bundle.meta import Manifest, VerifiedFolder
from edgekit.bundle.verify import verify
from edgekit.errors import BundleError

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors", "edgekit_adapter.json")


@dataclass(frozen=True)
class AdapterPackage(VerifiedFolder):
    """A verified site adapter package (adapter GGUF, PEFT files, eval set)."""

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def bundle_id(self) -> str:
        return str(self.meta.bundle_id)

    @property
    def base_sha256(self) -> str:
        return str(self.meta.base_sha256)

    @property
    def gguf(self) -> Path:
        return self.root / mf.ADAPTER_GGUF

    @property
    def eval_set(self) -> Path:
        return self.root / mf.EVAL_FILE


def check_version(version: str) -> str:
    if not VERSION_RE.match(version):
        raise BundleError(
            f"adapter version {version!r} is not usable as a folder name; use letters, "
            "digits, '.', '_' and '-' (e.g. 2026.11.24 or v3)"
        )
    return version


def read_eval_set(path: Path) -> list[tuple[list[dict[str, str]], str]]:
    """(prompt messages, reference answer) pairs from a JSONL of chat records
    (``{"messages": [..., {"role": "assistant", ...}]}``) or ``{"prompt", "answer"}`` rows."""
    items: list[tuple[list[dict[str, str]], str]] = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: unreadable eval set ({exc})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BundleError(f"{path}:{n}: not JSON ({exc})") from None
        if isinstance(row, dict) and isinstance(row.get("messages"), list):
            msgs = row["messages"]
            if not msgs or msgs[-1].get("role") != "assistant":
                raise BundleError(f"{path}:{n}: the last message must be the assistant's answer")
            items.append((msgs[:-1], str(msgs[-1].get("content", ""))))
        elif isinstance(row, dict) and "prompt" in row and "answer" in row:
            items.append(([{"role": "user", "content": str(row["prompt"])}], str(row["answer"])))
        else:
            raise BundleError(
                f"{path}:{n}: expected {{'messages': [...]}} or {{'prompt', 'answer'}}"
            )
    if not items:
        raise BundleError(f"{path}: the eval set is empty; the gate needs something to score")
    return items


def unpack(package: Path, dest: Path) -> Path:
    """Extract a package tar (or copy a package folder) into ``dest``; returns its root."""
    dest.mkdir(parents=True, exist_ok=True)
    if package.is_dir():
        shutil.copytree(package, dest / package.name)
        return dest / package.name
    try:
        with tarfile.open(package) as tf:
            tops = {m.name.split("/", 1)[0] for m in tf.getmembers()}
            if len(tops) != 1:
                raise BundleError(f"{package}: expected one top folder, found {sorted(tops)}")
            tf.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{package}: unreadable adapter package ({exc})") from None
    return dest / tops.pop()


def open_package(root: Path, pubkey: Path | None) -> AdapterPackage:
    """Verify an unpacked package (every hash, and the signature when ``pubkey`` is given)."""

    report = verify(root, pubkey=pubkey)
    report.raise_if_bad()
    manifest = report.manifest
    meta = Manifest(manifest)
    if meta.kind != mf.KIND_ADAPTER:
        raise BundleError(f"{root}: not an adapter package (kind {meta.kind!r})")
    check_version(str(manifest.get(mf.K_VERSION)))
    return AdapterPackage(root, manifest)
