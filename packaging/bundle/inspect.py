"""`edgekit bundle inspect`: a readable summary of a bundle's manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.verify import verify_tar


def load_any(path: Path) -> dict[str, Any]:
    """Manifest of a bundle directory or .tar (a tar is hashed on the way)."""
    if path.is_file():
        return verify_tar(path).manifest
    return mf.read_manifest(path)


def inspect_bundle(path: Path, console: Any, as_json: bool = False) -> dict[str, Any]:
    from rich.table import Table

    manifest = load_any(Path(path))
    if as_json:
        console.print_json(json.dumps(manifest))
        return manifest
    files = manifest.get(mf.K_FILES, [])
    total = sum(f[mf.K_SIZE] for f in files)
    base = manifest.get(mf.K_BASE_MODEL) or {}
    made = f"edgekit {manifest.get(mf.K_EDGEKIT_VERSION)}, created {manifest.get(mf.K_CREATED)}"
    console.print(f"[bold]{manifest[mf.K_NAME]} {manifest[mf.K_VERSION]}[/]  ({made})")
    console.print(f"base model: {base.get(mf.K_ID)}  sha256 {str(base.get(mf.K_SHA256))[:16]}…")
    adapter = manifest.get(mf.K_ADAPTER)
    if adapter:
        console.print(
            f"adapter:    {adapter.get(mf.K_ID)}  sha256 {str(adapter.get(mf.K_SHA256))[:16]}…"
        )
    models = Table("model", "type", "size (MiB)", "default")
    for m in manifest.get(mf.K_MODELS, []):
        default = "yes" if m[mf.K_PATH] == manifest.get(mf.K_DEFAULT_MODEL) else ""
        models.add_row(m[mf.K_PATH], m[mf.K_QTYPE], f"{m[mf.K_SIZE] / 2**20:.1f}", default)
    console.print(models)
    rt = manifest.get(mf.K_RUNTIME, {})
    console.print("runtime: " + ", ".join(f"{k}={v!r}" for k, v in rt.items()))
    console.print(f"{len(files)} files, {total / 2**20:.1f} MiB")
    return manifest
