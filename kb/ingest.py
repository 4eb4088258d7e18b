"""`edgekit kb ingest`: index a docs folder (or a config's docs) into a KB folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.errors import EdgekitError
from edgekit.kb import store
from edgekit.kb.embedder import E_FINGERPRINT, META_FILE, PrefixSetting
from edgekit.kb.store import IngestReport, KnowledgeBase

if TYPE_CHECKING:
    from edgekit.config import KBSection


def embedder_fingerprint(folder: Path) -> str:
    """Fingerprint of an exported embedder, read without loading onnxruntime."""
    return str(json.loads((folder / META_FILE).read_text())[E_FINGERPRINT])


def prefix_setting(kb: KBSection) -> PrefixSetting:
    """The embedder prefixes a config's `kb` section asks for."""
    return PrefixSetting(kb.query_prefix, kb.passage_prefix)


def drop_if_other_embedder(db: Path, fingerprint: str) -> bool:
    """Remove the KB at ``db`` when it was embedded by another embedder (or other pooling or
    prefixes) than ``fingerprint``, so the next ingest re-embeds everything."""
    emb = Path(db) / store.EMBEDDER_DIR
    if (emb / META_FILE).is_file() and embedder_fingerprint(emb) != fingerprint:
        shutil.rmtree(db)
        return True
    return False


def _wanted(
    fingerprint: str, chunk_tokens: int, overlap: int, collection: str, server: str | None
) -> dict[str, Any]:
    return {
        store.K_FINGERPRINT: fingerprint,
        store.K_CHUNK_TOKENS: chunk_tokens,
        store.K_OVERLAP: overlap,
        store.K_COLLECTION: collection,
        store.K_SERVER: server,
    }


def ingest_folder(
    docs: Path,
    db: Path,
    embedder: str = "builtin:minilm",
    chunk_tokens: int = 200,
    overlap_tokens: int = 40,
    collection: str = store.DEFAULT_COLLECTION,
    server: str | None = None,
    prefix: str = "",
    progress: Callable[[str, int, int], None] | None = None,
    embedder_prefixes: PrefixSetting | None = None,
) -> tuple[KnowledgeBase, IngestReport]:
    """Create or update the KB at ``db`` from ``docs``.

    ``embedder`` and its query/passage ``embedder_prefixes`` make a new KB; an existing KB
    keeps its own (so a site can re-ingest without torch). When the chunking, collection or
    server asked for differ from the KB's, it is rebuilt.
    """
    if not Path(docs).is_dir():
        raise EdgekitError(f"{docs}: documents folder does not exist")
    db = Path(db)
    if (db / store.KB_FILE).is_file():
        have = json.loads((db / store.KB_FILE).read_text())
        want = _wanted(have[store.K_FINGERPRINT], chunk_tokens, overlap_tokens, collection, server)
        if {k: have.get(k) for k in want} != want:
            shutil.rmtree(db)
    if (db / store.KB_FILE).is_file():
        kb = KnowledgeBase.open(db)
    else:
        from edgekit.kb.export import cached_embedder

        folder, _ = cached_embedder(embedder, embedder_prefixes)
        kb = KnowledgeBase.create(
            db,
            folder,
            server=server,
            collection=collection,
            chunk_tokens=chunk_tokens,
            overlap_tokens=overlap_tokens,
        )
    return kb, kb.ingest(docs, prefix=prefix, progress=progress)


def ingest_config(
    config: Path, db: Path, progress: Callable[[str, int, int], None] | None = None
) -> tuple[KnowledgeBase, IngestReport]:
    """Ingest a config's `docs` with its `kb` settings; sources are bundle-relative (docs/...)."""
    from edgekit.bundle.manifest import DOCS_DIR
    from edgekit.config import load_config

    cfg = load_config(config).config
    if cfg.docs is None:
        raise EdgekitError(f"{config}: has no `docs` folder to ingest")
    k = cfg.kb
    return ingest_folder(
        cfg.docs,
        db,
        k.embedder,
        k.chunk_tokens,
        k.overlap_tokens,
        k.collection,
        k.server,
        prefix=f"{DOCS_DIR}/",
        progress=progress,
        embedder_prefixes=prefix_setting(k),
    )
