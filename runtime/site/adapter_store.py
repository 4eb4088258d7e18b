"""The site adapter store: adapter versions installed next to a bundle, the active pointer,
import behind an eval gate, and rollback.

State lives next to the bundle, never inside it (the bundle stays exactly what was signed)::

    <bundle>.adapters/
        current.json        {"version": "v3", "previous": "v2", "switched": ...}
        history.jsonl       one line per switch
        v2/  v3/            installed packages, each verified against its own manifest
        .incoming-*/        an import in progress (removed by the next import)

Every step writes to a temp location and renames: a killed import leaves the previous
adapter active and the bundle intact, and running the import again completes it.
``current.json`` is replaced with one atomic rename; a running `edgekit serve` watches it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.adapter_pkg import (
    AdapterPackage,
    check_version,
    open_package,
    read_eval_set,
    unpack,
)
from edgekit.errors import BundleError
from edgekit.fsutil import atomic_write_json
from edgekit.runtime.site.verified import open_bundle

POINTER = "current.json"
HISTORY = "history.jsonl"
GATE_FILE = "gate.json"  # <version>/gate.json beside <version>/package/ (signed, untouched)
PACKAGE_SUBDIR = "package"
INCOMING = ".incoming-"
BASE = "base"  # the version name meaning "no adapter"
CRASH_ENV = "EDGEKIT_CRASH_AT"  # test hook: SIGKILL this process at the named step
GATE_TOLERANCE = 0.05  # largest allowed rise in answer perplexity vs the current adapter
KEEP_VERSIONS = 3  # installed versions kept
GATE_LIMIT = 32  # items scored per eval set by the gate


def _checkpoint(step: str) -> None:
    """Fault injection for the crash-safety tests: a real kill -9 at ``step``."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def state_dir(bundle: Path) -> Path:
    bundle = Path(bundle).resolve()
    return bundle.with_name(bundle.name + ".adapters")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Installed:
    version: str
    path: Path
    manifest: dict[str, Any]
    gate: dict[str, Any] | None = None
    installed: str = ""
    active: bool = False


@dataclass
class ImportResult:
    version: str
    accepted: bool
    gate: Any = None
    previous: str | None = None
    pruned: list[str] = field(default_factory=list)


class AdapterStore:
    """The adapter versions installed beside one bundle."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = Path(bundle).resolve()
        self.root = state_dir(self.bundle)

    def pointer(self) -> dict[str, Any]:
        path = self.root / POINTER
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(f"{path}: unreadable adapter pointer ({exc})") from None

    def current(self) -> str | None:
        version = self.pointer().get("version")
        return None if version in (None, BASE) else str(version)

    def installed(self) -> list[Installed]:
        if not self.root.is_dir():
            return []
        active = self.current()
        out = []
        for d in self.root.iterdir():
            manifest = d / PACKAGE_SUBDIR / mf.MANIFEST_FILE
            if not d.is_dir() or d.name.startswith(".") or not manifest.is_file():
                continue
            gate = json.loads((d / GATE_FILE).read_text()) if (d / GATE_FILE).is_file() else None
            out.append(
                Installed(
                    d.name,
                    d,
                    json.loads(manifest.read_text()),
                    gate,
                    (gate or {}).get("installed", ""),
                    d.name == active,
                )
            )
        return sorted(out, key=lambda i: (i.installed, i.version))

    def get(self, version: str) -> Installed:
        for item in self.installed():
            if item.version == version:
                return item
        have = ", ".join(i.version for i in self.installed()) or "none"
        raise BundleError(f"adapter version {version!r} is not installed (installed: {have})")

    def active_gguf(self, pubkey: Path | None = None) -> tuple[str | None, Path | None]:
        """(version, GGUF path) of the active adapter, verified; (None, None) for none."""
        version = self.current()
        if version is None:
            return None, None
        package = open_package(self.root / version / PACKAGE_SUBDIR, pubkey)
        return version, package.gguf

    def switch(self, version: str | None, reason: str) -> None:
        """Make ``version`` (None: no adapter) the active one, with one atomic rename."""
        if version is not None:
            self.get(version)
        previous = self.current()
        self.root.mkdir(parents=True, exist_ok=True)
        record = {
            "version": version or BASE,
            "previous": previous or BASE,
            "switched": _now(),
            "reason": reason,
        }
        atomic_write_json(self.root / POINTER, record)
        with open(self.root / HISTORY, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def rollback(self, version: str | None = None) -> str | None:
        """Switch back to ``version``, or to the one active before the current one."""
        if version is None:
            previous = self.pointer().get("previous")
            if previous is None:
                raise BundleError(f"{self.bundle}: nothing to roll back to (no switch recorded)")
            version = str(previous)
        target = None if version == BASE else version
        self.switch(target, f"rollback to {version}")
        return target

    def prune(self, keep: int) -> list[str]:
        """Delete all but the ``keep`` newest versions; never the active or previous one."""
        items = self.installed()
        keepers = {i.version for i in items[-keep:]} if keep > 0 else set()
        keepers |= {self.current(), self.pointer().get("previous")}
        removed = []
        for item in items:
            if item.version in keepers:
                continue
            doomed = item.path.with_name(f"{INCOMING}rm-{item.version}")
            os.replace(item.path, doomed)  # gone from the listing at once, then deleted
            shutil.rmtree(doomed, ignore_errors=True)
            removed.append(item.version)
        return removed

    def clean_incoming(self) -> None:
        if self.root.is_dir():
            for d in self.root.glob(f"{INCOMING}*"):
                shutil.rmtree(d, ignore_errors=True)


def _eval_sets(site: Any, package: AdapterPackage) -> dict[str, list[Any]]:

    sets = {"package": read_eval_set(package.eval_set)}
    for rel in site.eval_sets():
        sets[f"bundle:{Path(rel).stem}"] = read_eval_set(site.root / rel)
    return sets


def import_adapter(
    bundle: Path,
    package_path: Path,
    pubkey: Path | None,
    tolerance: float = GATE_TOLERANCE,
    keep: int = KEEP_VERSIONS,
    gate: bool = True,
    threads: int = 1,
    limit: int = GATE_LIMIT,
) -> ImportResult:
    """Verify, gate, install and switch to the adapter in ``package_path``."""
    from edgekit.runtime.site.adapter_gate import run_gate

    site = open_bundle(bundle)
    store = AdapterStore(site.root)
    store.clean_incoming()
    store.root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=INCOMING, dir=store.root))
    try:
        package = open_package(unpack(package_path, work), pubkey)
        _checkpoint("after-unpack")
        name = site.meta.name
        if package.bundle_id != name:
            raise BundleError(
                f"{package_path}: this package is for bundle {package.bundle_id!r}, not {name!r}"
            )
        want = site.meta.model_sha256
        if want and package.base_sha256 != want:
            raise BundleError(
                f"{package_path}: adapter was trained on base sha256 "
                f"{package.base_sha256[:12]}…, but this bundle's model is {want[:12]}…; "
                "retrain it on the bundle's model"
            )
        version = check_version(package.version)
        dest = store.root / version
        if dest.exists() and store.current() == version:
            return ImportResult(version, True, None, version)
        current_version, current_gguf = store.active_gguf(pubkey)
        result = None
        if gate:
            sets = {k: v[:limit] for k, v in _eval_sets(site, package).items()}
            result = run_gate(
                site.model_path(), current_gguf, package.gguf, sets, tolerance, threads
            )
            _checkpoint("during-gate")
            if not result.accepted:
                return ImportResult(version, False, result, current_version)
        record = {
            "installed": _now(),
            "package": str(package_path),
            "gate": result.as_dict() if result else "skipped (--no-gate)",
        }
        staging = work / "stage"
        staging.mkdir()
        os.replace(package.root, staging / PACKAGE_SUBDIR)
        atomic_write_json(staging / GATE_FILE, record)
        if dest.exists():  # an earlier import got this far, or an old install of it
            shutil.rmtree(dest)
        os.replace(staging, dest)
        _checkpoint("before-switch")
        store.switch(version, f"import {package_path.name}")
        pruned = store.prune(keep)
        return ImportResult(version, True, result, current_version, pruned)
    finally:
        shutil.rmtree(work, ignore_errors=True)
