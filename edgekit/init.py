"""`edgekit init DIR`: a starter project that builds with no edits."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

from edgekit.config import EdgekitConfig, render_yaml
from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_text

HEADER = """edgekit project config. Every key is documented; delete the ones you do not change.
Check it with `edgekit validate edgekit.yaml`, build with `edgekit build edgekit.yaml`."""


def project_name(folder: Path) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", folder.resolve().name.lower()).strip("-._")
    return slug[:64] or "my-bundle"


def init_project(folder: Path, base: str = "builtin:smollm2-135m", force: bool = False) -> Path:
    """Write ``folder/edgekit.yaml`` and an example ``folder/docs/``; returns the config path."""
    folder = Path(folder)
    config_path = folder / "edgekit.yaml"
    if config_path.exists() and not force:
        raise EdgekitError(f"{config_path} already exists; use --force to overwrite it")
    cfg = EdgekitConfig.model_validate(
        {"name": project_name(folder), "docs": "docs", "model": {"base": base}}
    )
    folder.mkdir(parents=True, exist_ok=True)
    docs = folder / "docs"
    if not docs.exists():
        docs.mkdir()
        source = resources.files("edgekit") / "templates" / "docs"
        for item in source.iterdir():
            if item.name.endswith(".md"):
                with resources.as_file(item) as p:
                    shutil.copyfile(p, docs / item.name)
    atomic_write_text(config_path, render_yaml(cfg, HEADER))
    return config_path
