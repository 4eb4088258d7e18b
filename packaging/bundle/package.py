"""Lay out a bundle from build outputs: models, config as used, docs, README, manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.writer import BundleWriter
from edgekit.config import LoadedConfig
from edgekit.models import PreparedModel

README = """\
{name} {version} - an edgekit bundle

Verify every file against manifest.json:
    edgekit bundle verify {dirname}

Ask it a question (or leave the question out for an interactive chat):
    edgekit chat {dirname} "your question"

Needs only the site extra on this machine:  pip install 'edgekit[site]'
Nothing here reaches the network.
"""


def write_bundle(
    loaded: LoadedConfig,
    target: Path,
    base: PreparedModel,
    models: list[tuple[str, Path]],
    model_sha: str,
    tar: bool = True,
) -> dict[str, Any]:
    """Write the bundle directory (and tar) atomically; returns the manifest."""
    cfg = loaded.config
    writer = BundleWriter(target).open()
    try:
        entries = []
        for qtype, path in models:
            rel = f"{mf.MODEL_DIR}/{path.name}"
            writer.add_file(path, rel)
            entries.append({mf.K_PATH: rel, mf.K_QTYPE: qtype, mf.K_SIZE: path.stat().st_size})
        writer.add_bytes(loaded.raw_text.encode(), mf.CONFIG_FILE)
        if cfg.docs is not None:
            writer.add_tree(cfg.docs, mf.DOCS_DIR)
        readme = README.format(name=cfg.name, version=cfg.version, dirname=target.name)
        writer.add_bytes(readme.encode(), mf.README_FILE)
        adapter = None
        if cfg.model.adapter is not None:
            adapter = {mf.K_ID: cfg.model.adapter.name, mf.K_SHA256: model_sha}
        manifest = writer.finalize(
            {
                mf.K_NAME: cfg.name,
                mf.K_VERSION: cfg.version,
                mf.K_BASE_MODEL: {mf.K_ID: base.spec, mf.K_SHA256: base.sha256},
                mf.K_ADAPTER: adapter,
                mf.K_MODELS: entries,
                mf.K_DEFAULT_MODEL: entries[0][mf.K_PATH],
                mf.K_RUNTIME: {
                    mf.K_SYSTEM_PROMPT: cfg.prompt.system,
                    mf.K_MAX_TOKENS: cfg.prompt.max_tokens,
                    mf.K_TEMPERATURE: cfg.prompt.temperature,
                    mf.K_N_CTX: cfg.prompt.n_ctx,
                },
            }
        )
        writer.commit(tar=tar)
    except BaseException:
        writer.abort()
        raise
    return manifest
