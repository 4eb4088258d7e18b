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


def behaviour_table(summary: dict[str, Any]) -> Any:
    """The behaviour eval's metrics as a rich table (group, metric, value)."""
    from rich.table import Table

    s = summary.get("settings") or {}
    title = (
        f"behaviour eval: {summary.get('model')}, {summary.get('items')} questions, "
        f"KB {'on' if summary.get('kb') else 'absent'}, seeds {s.get('seeds')}"
    )
    table = Table("group", "metric", "value", title=title, title_justify="left")
    for group, values in (summary.get("metrics") or {}).items():
        for i, (name, value) in enumerate(values.items()):
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            table.add_row(group if i == 0 else "", name, "—" if value is None else shown)
    return table


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
    for es in manifest.get(mf.K_EVAL_SETS) or []:
        console.print(f"eval set {es[mf.K_NAME]}: {es[mf.K_PATH]}, {es[mf.K_ITEMS]} items")
    behaviour = manifest.get(mf.K_BEHAVIOUR)
    if behaviour:
        console.print(behaviour_table(behaviour))
    else:
        console.print("behaviour: not measured (edgekit eval behaviour BUNDLE)")
    for change in manifest.get(mf.K_AMENDED) or []:
        console.print(f"changed after the build: {change.get('time')} {change.get('note')}")
    console.print(f"{len(files)} files, {total / 2**20:.1f} MiB")
    return manifest
