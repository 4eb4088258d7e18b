"""Retrieval defaults, measured on bench/kb_squad.py (see the numbers in the README)."""

from __future__ import annotations

from edgekit.kb.retrieve import FusionWeights

DEFAULT_FUSION = FusionWeights(bm25=0.4, vector=0.6, method="convex")
