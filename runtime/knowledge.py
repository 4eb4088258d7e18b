"""The bundle's knowledge base at run time: a private working copy, retrieval, context."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.runtime.bundle import SiteBundle


def has_kb(bundle: SiteBundle) -> bool:
    return bool(bundle.manifest.get(mf.K_KB))


def open_kb(bundle: SiteBundle) -> Any:
    """Open the bundle's KB from a temporary copy.

    Chroma writes to its database files even when only reading; a copy keeps the verified
    bundle byte-for-byte unchanged (so it still verifies after a chat).
    """
    from edgekit.kb.retrieve import FusionWeights
    from edgekit.kb.store import KnowledgeBase

    info = bundle.manifest[mf.K_KB]
    work = Path(tempfile.mkdtemp(prefix="edgekit-kb-"))
    atexit.register(shutil.rmtree, work, True)
    shutil.copytree(bundle.root / info[mf.K_PATH], work / "kb")
    kb = KnowledgeBase.open(work / "kb")
    fusion = info.get(mf.K_FUSION) or {}
    kb.default_weights = FusionWeights(
        bm25=float(fusion.get("bm25", 0.4)),
        vector=float(fusion.get("vector", 0.6)),
        method=str(fusion.get("method", "convex")),
    )
    kb.top_k = int(info.get(mf.K_TOP_K, 4))
    kb.context_tokens = int(info.get(mf.K_CONTEXT_TOKENS, 800))
    return kb
