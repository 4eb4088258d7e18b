"""`edgekit init DIR`: a starter project that builds with no edits."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from edgekit.config import EdgekitConfig, ModelSection, render_yaml
from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_text

HEADER = """edgekit project config. Every key is documented; delete the ones you do not change.
Check it with `edgekit validate edgekit.yaml`, build with `edgekit build edgekit.yaml`."""

LANGS = ("en", "zh")
"""Languages of the starter project: its example documents and the language-dependent
config values (the system prompt). English uses the config's own defaults."""

# templates/<folder> holds each language's example documents
TEMPLATE_DOCS = {"en": "docs", "zh": "docs-zh"}

# Config values that differ by language (only keys something reads: the system prompt).
# The Chinese prompt asks for the phrase edgekit.qa.score counts as an abstention.
LANG_SETTINGS: dict[str, dict[str, Any]] = {
    "en": {},
    "zh": {
        "prompt": {
            "system": "你是本场地工作人员的助手。请用中文简短、准确地回答，并注明依据的资料；"
            "资料中没有提到的，直接回答“资料中没有提到”。"
        }
    },
}


def project_name(folder: Path) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", folder.resolve().name.lower()).strip("-._")
    return slug[:64] or "my-bundle"


def init_project(
    folder: Path, base: str | None = None, force: bool = False, lang: str = "en"
) -> Path:
    """Write ``folder/edgekit.yaml`` and an example ``folder/docs/`` in ``lang`` (one of
    :data:`LANGS`); returns the config path."""
    if lang not in LANGS:
        raise EdgekitError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    folder = Path(folder)
    config_path = folder / "edgekit.yaml"
    if config_path.exists() and not force:
        raise EdgekitError(f"{config_path} already exists; use --force to overwrite it")
    cfg = EdgekitConfig.model_validate(
        {
            "name": project_name(folder),
            "docs": "docs",
            "model": {"base": base or ModelSection().base},
        }
        | LANG_SETTINGS[lang]
    )
    folder.mkdir(parents=True, exist_ok=True)
    docs = folder / "docs"
    if not docs.exists():
        docs.mkdir()
        source = resources.files("edgekit") / "templates" / TEMPLATE_DOCS[lang]
        for item in source.iterdir():
            if item.name.endswith(".md"):
                with resources.as_file(item) as p:
                    shutil.copyfile(p, docs / item.name)
    atomic_write_text(config_path, render_yaml(cfg, HEADER))
    return config_path
