"""Retrieval defaults: the fusion weights of `AnswerSettings` (measured on bench/kb_squad.py,
see the numbers in the README), as the KB's fusion type."""

from __future__ import annotations

from edgekit.kb.retrieve import FusionWeights

DEFAULT_FUSION = FusionWeights()
