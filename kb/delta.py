"""KB delta packages: ship added/changed/removed chunks with their vectors to a site.

The site applies a delta without re-embedding, and refuses one made with a different
embedder or against a different state of the knowledge base.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_bytes
from edgekit.kb.records import C_SOURCE
from edgekit.kb.store import KnowledgeBase

DELTA_FORMAT = 1
D_FORMAT, D_FINGERPRINT, D_BASE, D_TARGET = "format", "embedder_fingerprint", "base", "target"
D_REMOVED, D_CHANGED, D_ADDED, D_ROWS = "removed", "changed", "added", "rows"


def export_delta(old_dir: Path, new_dir: Path, out: Path) -> dict[str, Any]:
    """Write the difference between two KBs built with the same embedder to ``out``."""
    old, new = KnowledgeBase.open_read_only(old_dir), KnowledgeBase.open_read_only(new_dir)
    if old.embedder.fingerprint != new.embedder.fingerprint:
        raise EdgekitError(
            "the two knowledge bases use different embedders; a delta cannot "
            "carry vectors across embedders: ship the whole KB instead"
        )
    before, after = old.documents(), new.documents()
    removed = sorted(set(before) - set(after))
    added = sorted(set(after) - set(before))
    changed = sorted(s for s in set(before) & set(after) if before[s] != after[s])
    rows: dict[str, list[Any]] = {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
    if added or changed:
        got = new.collection.get(
            where={C_SOURCE: {"$in": added + changed}},
            include=["documents", "metadatas", "embeddings"],
        )
        rows = {
            "ids": list(got["ids"]),
            "documents": list(got["documents"]),
            "metadatas": list(got["metadatas"]),
            "embeddings": [[float(x) for x in e] for e in got["embeddings"]],
        }
    delta = {
        D_FORMAT: DELTA_FORMAT,
        D_FINGERPRINT: new.embedder.fingerprint,
        D_BASE: before,
        D_TARGET: after,
        D_REMOVED: removed,
        D_CHANGED: changed,
        D_ADDED: added,
        D_ROWS: rows,
    }
    atomic_write_bytes(out, gzip.compress(json.dumps(delta).encode()))
    return {"added": added, "changed": changed, "removed": removed, "chunks": len(rows["ids"])}


def read_delta(path: Path) -> dict[str, Any]:
    try:
        delta = json.loads(gzip.decompress(Path(path).read_bytes()))
    except (OSError, ValueError) as exc:
        raise EdgekitError(f"{path}: not a KB delta package ({exc})") from None
    if delta.get(D_FORMAT) != DELTA_FORMAT:
        raise EdgekitError(f"{path}: delta format {delta.get(D_FORMAT)!r} is not supported")
    return delta


def apply_delta(kb_dir: Path, path: Path) -> dict[str, Any]:
    """Apply a delta to the KB at ``kb_dir``; refuses a mismatched embedder or base."""
    delta = read_delta(path)
    kb = KnowledgeBase.open(kb_dir)
    if delta[D_FINGERPRINT] != kb.embedder.fingerprint:
        raise EdgekitError(
            f"{path} was made with embedder {delta[D_FINGERPRINT][:12]}… but {kb_dir} uses "
            f"{kb.embedder.fingerprint[:12]}…: its vectors would not match. Rebuild the "
            "delta from a KB that uses this bundle's embedder."
        )
    current = kb.documents()
    if current == delta[D_TARGET]:
        return {"added": [], "changed": [], "removed": [], "chunks": 0, "already_applied": True}
    if current != delta[D_BASE]:
        differs = sorted(set(current.items()) ^ set(delta[D_BASE].items()))
        raise EdgekitError(
            f"{path} was made against a different state of this KB "
            f"(first difference: {differs[0][0]}); apply deltas in order"
        )
    kb.delete_sources(delta[D_REMOVED] + delta[D_CHANGED])
    rows = delta[D_ROWS]
    if rows["ids"]:
        kb.add_rows(rows["ids"], rows["documents"], rows["metadatas"], rows["embeddings"])
    return {
        "added": delta[D_ADDED],
        "changed": delta[D_CHANGED],
        "removed": delta[D_REMOVED],
        "chunks": len(rows["ids"]),
    }
