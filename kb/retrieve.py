"""Hybrid retrieval: BM25 (bm25s) + vector similarity, fused by weighted reciprocal rank."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgekit import deps
from edgekit.bundle.answer_settings import DEFAULTS
from edgekit.kb.segment import DEFAULT_SEGMENTER, Segmenter, words


def terms(text: str, segmenter: Segmenter = DEFAULT_SEGMENTER) -> list[str]:
    """Lower-cased search words without stop words (what BM25 indexes): Latin words as
    they are, Chinese runs cut by ``segmenter`` (see edgekit.kb.segment)."""
    return words(text, segmenter)


class BM25Index:
    """BM25 over a fixed list of texts (bm25s; rebuilt when the texts change)."""

    def __init__(
        self,
        texts: Sequence[str],
        k1: float = 1.2,
        b: float = 0.75,
        segmenter: Segmenter = DEFAULT_SEGMENTER,
    ) -> None:
        bm25s = deps.require("bm25s")
        # bm25s sets its logger to DEBUG when imported: its index-building lines would
        # reach the console wherever logging has a handler
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.size = len(texts)
        self.segmenter = segmenter
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        corpus = [terms(t, segmenter) or ["\u2205"] for t in texts]
        self._bm25.index(corpus, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for ``query``."""
        q = terms(query, self.segmenter)
        if not q or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(q), dtype=np.float32)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        q = terms(query, self.segmenter)
        if not q or not self.size:
            return []
        k = min(k, self.size)
        scores = self._bm25.get_scores(q)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def vector_search(matrix: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Cosine top-k over L2-normalised rows."""
    if not len(matrix):
        return []
    sims = matrix @ query
    top = np.argsort(-sims, kind="stable")[: min(k, len(matrix))]
    return [(int(i), float(sims[i])) for i in top]


@dataclass(frozen=True)
class FusionWeights:
    """How BM25 and vector evidence are combined.

    ``method="convex"``: min-max normalise each score list over the candidates, then
    ``bm25 * b + vector * v`` (weights are normalised to sum to 1).
    ``method="rrf"``: weighted reciprocal rank, ``w / (rrf_k + rank)`` summed.
    """

    bm25: float = DEFAULTS.bm25_weight
    vector: float = DEFAULTS.vector_weight
    method: str = DEFAULTS.fusion
    rrf_k: int = 60


def _minmax(scores: dict[int, float], keys: set[int]) -> dict[int, float]:
    if not scores:
        return dict.fromkeys(keys, 0.0)
    lo, hi = min(scores.values()), max(scores.values())
    span = hi - lo
    return {k: ((scores[k] - lo) / span if span > 0 else 1.0) if k in scores else 0.0 for k in keys}


def fuse(
    bm25: list[tuple[int, float]],
    vector: list[tuple[int, float]],
    weights: FusionWeights = FusionWeights(),
) -> list[tuple[int, float]]:
    """Combine two (index, score) rankings into one, best first.

    For ``convex`` the caller should give each list the scores of every candidate (the union
    of both top lists); a candidate missing from one list scores that list's minimum.
    """
    if weights.method == "rrf":
        fused: dict[int, float] = {}
        for w, ranking in ((weights.bm25, bm25), (weights.vector, vector)):
            for rank, (idx, _) in enumerate(ranking, start=1):
                fused[idx] = fused.get(idx, 0.0) + w / (weights.rrf_k + rank)
        return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    keys = {i for i, _ in bm25} | {i for i, _ in vector}
    total = (weights.bm25 + weights.vector) or 1.0
    b = _minmax(dict(bm25), keys)
    v = _minmax(dict(vector), keys)
    out = {k: (weights.bm25 * b[k] + weights.vector * v[k]) / total for k in keys}
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))


def hybrid_search(
    bm25: BM25Index,
    matrix: np.ndarray,
    query_text: str,
    query_vec: np.ndarray,
    k: int,
    weights: FusionWeights = FusionWeights(),
    depth: int = 50,
) -> list[tuple[int, float]]:
    """Hybrid top-k over an in-memory corpus: both scores are exact for every candidate."""
    b_all = bm25.scores(query_text)
    v_all = matrix @ query_vec if len(matrix) else np.zeros(0, dtype=np.float32)
    b_top = np.argsort(-b_all, kind="stable")[:depth]
    v_top = np.argsort(-v_all, kind="stable")[:depth]
    cand = sorted({int(i) for i in b_top if b_all[i] > 0} | {int(i) for i in v_top})
    if weights.method == "rrf":
        b = [(int(i), float(b_all[i])) for i in b_top if b_all[i] > 0]
        v = [(int(i), float(v_all[i])) for i in v_top]
    else:
        b = [(i, float(b_all[i])) for i in cand]
        v = [(i, float(v_all[i])) for i in cand]
    return fuse(b, v, weights)[:k]
