"""The bundle's knowledge base at run time: a private working copy, retrieval, context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.runtime.answer.path import retrieval_weights
from edgekit.runtime.site.verified import SiteBundle

if TYPE_CHECKING:
    from edgekit.bundle.answer_settings import AnswerSettings


def has_kb(bundle: SiteBundle) -> bool:
    return bundle.meta.kb_path is not None


def use_answer_settings(kb: Any, settings: AnswerSettings) -> Any:
    """Make an open KB retrieve as ``settings`` say (fusion weights, chunks per question,
    keyword segmenter, excerpt budget); returns ``kb``. The one place both the site runtime
    and the build's QA gate apply a bundle's answer settings to its KB."""

    kb.default_weights = retrieval_weights(settings)
    kb.top_k = settings.top_k
    kb.segmenter = settings.bm25_segmenter
    kb.context_tokens = settings.context_tokens
    return kb


def open_kb(bundle: SiteBundle) -> Any:
    """Open the bundle's KB read-only (a private copy of Chroma's files: the verified
    bundle stays byte-for-byte unchanged, so it still verifies after a chat)."""
    from edgekit.kb.store import KnowledgeBase

    kb = KnowledgeBase.open_read_only(bundle.root / str(bundle.meta.kb_path))
    return use_answer_settings(kb, AnswerSettings.from_manifest(bundle.manifest))
