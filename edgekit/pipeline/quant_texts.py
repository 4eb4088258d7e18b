"""Which text measures quantization and which text calibrates GPTQ: never the same text.

- Trained builds (`train.enabled`): the data build's held-out splits measure
  (`eval_domain.jsonl`, `eval_general.jsonl`, never trained on); the training text
  calibrates (`train.jsonl` domain rows and `pretrain.txt`, never the eval splits).
- Untrained builds with `docs`: the model has seen none of the docs, so their sections are
  fair text to measure on; GPTQ calibrates on the docs too, so the sections are split by a
  stable hash of their text: one in four measures, the rest calibrates. General text is
  edgekit's bundled general prompts, split the same way.
- No docs: the general prompts alone, split the same way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from edgekit.config.layout import WorkLayout
from edgekit.data.build import EVAL_DOMAIN, EVAL_GENERAL, PRETRAIN, TRAIN
from edgekit.quant.texts import Texts, read_texts
from edgekit.resources import general_texts


def _held_out(text: str) -> bool:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 4 == 0


def _split(texts: list[str], held_out: bool) -> list[str]:
    """One side of the stable split; a short list still gives its first text to the
    held-out side, so there is something to measure."""
    side = [t for t in texts if _held_out(t)]
    if not side and texts:
        side = texts[:1]
    return side if held_out else [t for t in texts if t not in side]


def _data_dir(loaded: Any, work: Path) -> Path | None:
    data = WorkLayout(work).main_training.data
    return data if loaded.config.train.enabled and (data / TRAIN).is_file() else None


def eval_texts(loaded: Any, work: Path) -> Texts:
    """Held-out domain and general text for measuring a build's quantized models."""
    data = _data_dir(loaded, work)
    if data is not None:
        domain = read_texts(data / EVAL_DOMAIN) if (data / EVAL_DOMAIN).is_file() else []
        general = read_texts(data / EVAL_GENERAL) if (data / EVAL_GENERAL).is_file() else []
        return Texts(domain, general, "held-out splits of the training data (never trained on)")
    docs = loaded.config.docs
    domain = _split(read_texts(docs), True) if docs is not None else []
    where = "a quarter of the docs' sections (the model was not tuned; GPTQ calibrates on the rest)"
    return Texts(
        domain,
        _split(general_texts(), True),
        (where if docs is not None else "no docs") + "; a quarter of edgekit's general prompts",
    )


def calibration_texts(loaded: Any, work: Path) -> Texts:
    """Domain text for GPTQ calibration: the training text, never an eval split."""
    data = _data_dir(loaded, work)
    if data is not None:
        domain = read_texts(data / TRAIN, rule_filter="replay")
        if (data / PRETRAIN).is_file():
            domain += read_texts(data / PRETRAIN)
        return Texts(domain, [], "training text: SFT domain rows and pretraining text")
    docs = loaded.config.docs
    general = _split(general_texts(), False)
    if docs is not None:
        domain = _split(read_texts(docs), False)
        return Texts(
            domain, general, "three quarters of the docs' sections (general prompts fill up)"
        )
    return Texts([], general, "edgekit's general prompts (no docs)")
