"""The bundle's knowledge base at run time: a private working copy, retrieval, context."""

from __future__ import annotations

from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.runtime.bundle import SiteBundle


def has_kb(bundle: SiteBundle) -> bool:
    return bool(bundle.manifest.get(mf.K_KB))


def open_kb(bundle: SiteBundle) -> Any:
    """Open the bundle's KB read-only (a private copy of Chroma's files: the verified
    bundle stays byte-for-byte unchanged, so it still verifies after a chat)."""
    from edgekit.bundle.answer_settings import AnswerSettings
    from edgekit.kb.store import KnowledgeBase
    from edgekit.runtime.answer import retrieval_weights

    info = bundle.manifest[mf.K_KB]
    kb = KnowledgeBase.open_read_only(bundle.root / info[mf.K_PATH])
    settings = AnswerSettings.from_manifest(bundle.manifest)
    kb.default_weights = retrieval_weights(settings)
    kb.top_k = settings.top_k
    kb.segmenter = settings.bm25_segmenter
    kb.context_tokens = settings.context_tokens
    return kb
