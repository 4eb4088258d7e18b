"""A KB's retrieval settings: AnswerSettings' defaults until a bundle's are applied, by the
one function both the site runtime (`open_kb`) and the build's tuning gate (`_open_kb`)
call (issue 23)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import DEFAULTS, AnswerSettings
from edgekit.kb.ingest import ingest_folder
from edgekit.kb.retrieve import FusionWeights
from edgekit.kb.store import KnowledgeBase

GAS = """# Gas Monitoring

Gas detectors protect every crew underground.

## Methane

Methane is lighter than air and collects in the roof of headings.
At 1.25 percent methane all power is isolated and the crew withdraws to intake air.

## Carbon Monoxide

Carbon monoxide comes from diesel exhaust and fires. The limit is 30 ppm over eight hours.

## Fans

Auxiliary fans are inspected every week by the ventilation officer.
A stopped fan must run for fifteen minutes before anyone re-enters the heading.
"""

QUESTION = "At what methane level does the crew withdraw?"
# every retrieval value differs from the defaults, so a value left unapplied shows
SETTINGS = AnswerSettings(
    top_k=2,
    context_tokens=300,
    fusion="rrf",
    bm25_weight=0.9,
    vector_weight=0.1,
    bm25_segmenter="bigram",
)
WEIGHTS = FusionWeights(bm25=0.9, vector=0.1, method="rrf")


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("docs")
    (docs / "gas.md").write_text(GAS)
    db = tmp_path_factory.mktemp("kb") / "kb"
    ingest_folder(docs, db, prefix="docs/", chunk_tokens=32, overlap_tokens=0)
    return db


def _expect_settings(kb: KnowledgeBase) -> None:
    assert kb.top_k == SETTINGS.top_k
    assert kb.context_tokens == SETTINGS.context_tokens
    assert kb.segmenter == SETTINGS.bm25_segmenter
    assert kb.default_weights == WEIGHTS
    hits = kb.query(QUESTION)  # k, weights and segmenter from what was applied
    assert len(hits) == SETTINGS.top_k
    explicit = kb.query(QUESTION, k=2, weights=WEIGHTS, segmenter="bigram")
    assert [h.id for h in hits] == [h.id for h in explicit]


def test_the_settings_differ_from_the_defaults() -> None:
    for name in ("top_k", "context_tokens", "fusion", "bm25_weight", "bm25_segmenter"):
        assert getattr(SETTINGS, name) != getattr(DEFAULTS, name), name


def test_a_kb_opens_with_the_answer_defaults(kb_dir: Path) -> None:
    kb = KnowledgeBase.open_read_only(kb_dir)
    try:
        assert kb.top_k == DEFAULTS.top_k
        assert kb.context_tokens == DEFAULTS.context_tokens
        assert kb.segmenter == DEFAULTS.bm25_segmenter
        assert kb.default_weights == FusionWeights(
            DEFAULTS.bm25_weight, DEFAULTS.vector_weight, DEFAULTS.fusion
        )
        assert len(kb.query(QUESTION)) == DEFAULTS.top_k  # the KB holds more chunks
    finally:
        kb.close()


def test_the_runtime_applies_the_bundles_settings(kb_dir: Path) -> None:
    from edgekit.runtime.answer.knowledge import open_kb

    manifest = {
        mf.K_RUNTIME: {mf.K_ANSWER: SETTINGS.tunable()},
        mf.K_KB: {mf.K_FUSION: {"method": SETTINGS.fusion}},
    }
    assert AnswerSettings.from_manifest(manifest) == SETTINGS
    bundle = SimpleNamespace(
        root=kb_dir.parent, meta=SimpleNamespace(kb_path=kb_dir.name), manifest=manifest
    )
    kb = open_kb(bundle)  # type: ignore[arg-type]
    try:
        _expect_settings(kb)
    finally:
        kb.close()


def test_the_tuning_gate_applies_the_same_settings(kb_dir: Path) -> None:
    from edgekit.qa.gate import _open_kb

    kb = _open_kb(kb_dir, SETTINGS)
    try:
        _expect_settings(kb)
    finally:
        kb.close()
