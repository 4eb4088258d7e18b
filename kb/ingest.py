"""Index a docs folder into a KB folder (a config's docs: `edgekit.pipeline.kb`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.kb import store
from edgekit.kb.chunking import CHUNK_TOKENS, OVERLAP_TOKENS
from edgekit.kb.embedder import E_FINGERPRINT, META_FILE, PrefixSetting
from edgekit.kb.records import IngestReport
from edgekit.kb.store import KnowledgeBase


def embedder_fingerprint(folder: Path) -> str:
    """Fingerprint of an exported embedder, read without loading onnxruntime."""
    return str(json.loads((folder / META_FILE).read_text())[E_FINGERPRINT])


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
    chunk_tokens: int = CHUNK_TOKENS,
    overlap_tokens: int = OVERLAP_TOKENS,
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
