"""`edgekit install BUNDLE.tar`: put a bundle on a site server, offline.

Layout under the install root (default /opt/edgekit)::

    releases/<name>-<version>/bundle/      the verified, unpacked bundle
    releases/<name>-<version>/venv/        edgekit[site] from the bundle's wheelhouse
    current -> releases/<name>-<version>   switched with one atomic rename
    trusted.pub                            the key every start checks the bundle against
    audit.key                              the audit logs' secret (0600, kept on re-install)
    edgekit.service                        the systemd unit (`--systemd` installs it)

Installing an older tar again switches back to it (its release is kept). Each step writes
beside its target and renames, so an interrupted install leaves `current` as it was.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.bundle import manifest as mf
from edgekit.bundle.meta import Manifest
from edgekit.bundle.verify import verify, verify_dir
from edgekit.bundle.wheelhouse import source_tree
from edgekit.errors import BundleError
from edgekit.fsutil import atomic_write_bytes, temp_dir_beside
from edgekit.runtime.serve.settings import DEFAULT_HOST, DEFAULT_PORT
from edgekit.runtime.site.audit import KEY_NAME, create_key

VENV_DONE = ".edgekit-complete"


@dataclass(frozen=True)
class Installed:
    release: str
    bundle: Path
    venv: Path
    unit: Path
    previous: str | None
    audit_key: Path | None = None


def _verify_archive(tar: Path, pubkey: Path | None) -> dict:

    report = verify(tar, pubkey=pubkey)
    report.raise_if_bad()
    return report.manifest


def _unpack(tar: Path, release: str, bundle_dir: Path) -> None:

    if bundle_dir.is_dir() and verify_dir(bundle_dir, full=True).ok:
        return  # installed before (a re-run, or switching back to this release)
    tmp = temp_dir_beside(bundle_dir)
    try:
        with tarfile.open(tar) as tf:
            tf.extractall(tmp, filter="data")
        if not (tmp / release / mf.MANIFEST_FILE).is_file():
            raise BundleError(f"{tar}: expected its files under {release}/")
        if bundle_dir.exists():
            shutil.rmtree(bundle_dir)
        os.replace(tmp / release, bundle_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _venv(bundle_dir: Path, venv: Path, reuse_python: bool) -> None:
    if (venv / VENV_DONE).is_file() or (venv.is_symlink() and venv.exists()):
        return
    wheels = bundle_dir / mf.WHEELHOUSE_DIR
    if reuse_python:
        venv.parent.mkdir(parents=True, exist_ok=True)
        link = venv.with_name(".venv-link")
        link.unlink(missing_ok=True)
        link.symlink_to(Path(sys.prefix))
        os.replace(link, venv)
        return
    if not wheels.is_dir():
        raise BundleError(
            f"{bundle_dir}: no wheelhouse; rebuild with `edgekit build --wheelhouse`, or pass "
            "--reuse-python to run it with the edgekit installed here"
        )
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    cmd = [str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(wheels)]
    proc = subprocess.run([*cmd, "edgekit[site]"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BundleError(f"offline pip install from {wheels} failed:\n{proc.stderr[-2000:]}")
    (venv / VENV_DONE).write_text("")


def _audit_key(root: Path, user: str | None) -> Path:
    """ROOT/audit.key, the secret of `serve`'s keyed audit logs: created once, never
    replaced (a new key would leave the logs written so far unverifiable)."""

    key = root / KEY_NAME
    if create_key(key) and user and os.geteuid() == 0:
        shutil.chown(key, user)  # the service's user must read it
    return key


def _switch(root: Path, release: str) -> str | None:
    current = root / "current"
    previous = os.readlink(current).split("/")[-1] if current.is_symlink() else None
    tmp = root / ".current.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path("releases") / release)
    os.replace(tmp, current)
    return previous


def _unit(bundle_dir: Path, root: Path, release: str, opts: dict[str, str]) -> Path:
    template = bundle_dir / mf.INSTALL_DIR / mf.UNIT_TEMPLATE
    if not template.is_file():
        template = source_tree() / "packaging" / "site" / mf.UNIT_TEMPLATE
    allow = "" if opts["host"] in ("127.0.0.1", "localhost") else opts["host"]
    text = template.read_text().format(root=root, release=release, allow=allow, **opts)
    unit = root / "edgekit.service"
    atomic_write_bytes(unit, text.encode())
    return unit


def install_bundle(
    tar: Path,
    root: Path,
    pubkey: Path | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    user: str | None = None,
    systemd: bool = False,
    reuse_python: bool = False,
) -> Installed:
    """Verify ``tar`` (every hash, and the signature under ``pubkey``), unpack it to a new
    release, give it a venv from its wheelhouse, switch `current` to it, write the unit."""
    manifest = _verify_archive(tar, pubkey)
    release = Manifest(manifest).label
    root = root.resolve()
    rel_dir = root / "releases" / release
    rel_dir.mkdir(parents=True, exist_ok=True)
    bundle_dir = rel_dir / "bundle"
    _unpack(tar, release, bundle_dir)
    _venv(bundle_dir, rel_dir / "venv", reuse_python)
    pubkey_arg = ""
    if pubkey is not None:
        atomic_write_bytes(root / "trusted.pub", pubkey.read_bytes())
        pubkey_arg = f" --pubkey {root / 'trusted.pub'}"
    current = root / "current"
    if current.is_symlink():  # API keys carry over to the new release
        old_keys = current.resolve() / "bundle.apikeys.json"
        new_keys = rel_dir / "bundle.apikeys.json"
        if old_keys.is_file() and not new_keys.exists():
            shutil.copyfile(old_keys, new_keys)
    audit_key = _audit_key(root, user)
    opts = {"host": host, "port": str(port), "user": user or getpass.getuser()}
    unit = _unit(bundle_dir, root, release, {**opts, "pubkey_arg": pubkey_arg})
    previous = _switch(root, release)
    if systemd:
        target = Path("/etc/systemd/system/edgekit.service")
        shutil.copyfile(unit, target)
        if shutil.which("systemctl"):
            subprocess.run(["systemctl", "daemon-reload"], check=False)
    return Installed(release, bundle_dir, rel_dir / "venv", unit, previous, audit_key)
