"""The bundle's knowledge base at run time: a private working copy, retrieval, context."""

from __future__ import annotations

from typing import Any

from edgekit.runtime.bundle import SiteBundle


def has_kb(bundle: SiteBundle) -> bool:
    return bundle.meta.kb_path is not None


def open_kb(bundle: SiteBundle) -> Any:
    """Open the bundle's KB read-only (a private copy of Chroma's files: the verified
    bundle stays byte-for-byte unchanged, so it still verifies after a chat)."""
    from edgekit.bundle.answer_settings import AnswerSettings
    from edgekit.kb.store import KnowledgeBase
    from edgekit.runtime.answer import retrieval_weights

    kb = KnowledgeBase.open_read_only(bundle.root / str(bundle.meta.kb_path))
    settings = AnswerSettings.from_manifest(bundle.manifest)
    kb.default_weights = retrieval_weights(settings)
    kb.top_k = settings.top_k
    kb.segmenter = settings.bm25_segmenter
    kb.context_tokens = settings.context_tokens
    return kb
