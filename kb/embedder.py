"""Site-side text embedder: onnxruntime + tokenizers only (no torch).

An exported embedder folder holds `model.onnx`, `tokenizer.json` and `embedder.json`
(settings and fingerprint). `edgekit.kb.export` writes it on the build side. The settings
say how a text becomes a vector: the pooling (the CLS token's vector or the mean of the
token vectors, then always L2-normalised) and the prefixes put before a query or a passage
(e5: "query: " / "passage: "). Every caller embeds through `embed_queries` (a user's
question) or `embed_passages` (a chunk of a document), so the site applies exactly what the
build applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import deps
from edgekit.errors import EdgekitError
from edgekit.fsutil import sha256_file, sha256_json

META_FILE = "embedder.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"

# keys of META_FILE
E_SOURCE = "source"
E_MAX_LENGTH = "max_length"
E_DIM = "dim"
E_QUANT = "quantization"
E_FINGERPRINT = "fingerprint"
E_PAD_ID = "pad_id"
E_PAD_TOKEN = "pad_token"
E_POOLING = "pooling"
E_QUERY_PREFIX = "query_prefix"
E_PASSAGE_PREFIX = "passage_prefix"

POOLING_MEAN = "mean"
POOLING_CLS = "cls"
POOLINGS = (POOLING_MEAN, POOLING_CLS)


@dataclass(frozen=True)
class Prefixes:
    """Text put before a query and before a passage before they are embedded."""

    query: str = ""
    passage: str = ""


@dataclass(frozen=True)
class PrefixSetting:
    """Prefixes asked for; None takes the model folder's own (its `prompts`), else none."""

    query: str | None = None
    passage: str | None = None

    def resolve(self, folder_default: Prefixes) -> Prefixes:
        return Prefixes(
            folder_default.query if self.query is None else self.query,
            folder_default.passage if self.passage is None else self.passage,
        )


def fingerprint(
    folder: Path, max_length: int, pooling: str = POOLING_MEAN, prefixes: Prefixes | None = None
) -> str:
    """Identity of an embedder: weights, tokenizer, truncation length, pooling, prefixes.

    Mean pooling without prefixes hashes as before prefixes existed (same fingerprints)."""
    identity: dict[str, Any] = {
        "model": sha256_file(folder / MODEL_FILE),
        "tokenizer": sha256_file(folder / TOKENIZER_FILE),
        "max_length": max_length,
        "pooling": f"{pooling}+l2",
    }
    if prefixes and prefixes != Prefixes():
        identity["prefixes"] = {"query": prefixes.query, "passage": prefixes.passage}
    return sha256_json(identity)


class OnnxEmbedder:
    """Embeds text with an exported ONNX sentence-embedding model."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise EdgekitError(
                f"{folder}: not an exported embedder (no {META_FILE}); "
                "make one with `edgekit kb export-embedder` or `edgekit build`"
            )
        self.folder = folder
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        self.max_length = int(self.meta[E_MAX_LENGTH])
        self.fingerprint = str(self.meta[E_FINGERPRINT])
        self.dim = int(self.meta[E_DIM])
        # embedders exported before these keys existed: mean pooling, no prefixes
        self.pooling = str(self.meta.get(E_POOLING, POOLING_MEAN))
        if self.pooling not in POOLINGS:
            raise EdgekitError(
                f"{meta_path}: pooling {self.pooling!r} is not one of {', '.join(POOLINGS)}"
            )
        self.prefixes = Prefixes(
            str(self.meta.get(E_QUERY_PREFIX, "")), str(self.meta.get(E_PASSAGE_PREFIX, ""))
        )
        ort = deps.require("onnxruntime")
        tokenizers = deps.require("tokenizers")
        tok = tokenizers.Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        # The shipped tokenizer.json of MiniLM truncates and pads to 128: long paragraphs
        # would lose their tail. Truncate at the model's length, pad to the batch's longest.
        tok.enable_truncation(max_length=self.max_length)
        tok.enable_padding(pad_id=int(self.meta[E_PAD_ID]), pad_token=str(self.meta[E_PAD_TOKEN]))
        self.tokenizer = tok
        self._counter = tokenizers.Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._counter.no_truncation()
        self._counter.no_padding()
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(folder / MODEL_FILE), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self.session.get_inputs()}

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens or truncation."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self._counter.encode(text, add_special_tokens=False).offsets)

    def embed_queries(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of questions (the query prefix put before each)."""
        return self._embed([self.prefixes.query + t for t in texts], batch_size)

    def embed_passages(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of document text (the passage prefix put before each)."""
        return self._embed([self.prefixes.passage + t for t in texts], batch_size)

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.pooling == POOLING_CLS:
            return hidden[:, 0]
        m = mask[..., None].astype(np.float32)
        return (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        """L2-normalised float32 vectors of ``texts`` as given, one row per text."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # sort by length so each batch pads little
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encs = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:  # one sentence: all zeros
                feed["token_type_ids"] = np.zeros_like(ids)
            pooled = self._pool(self.session.run(None, feed)[0], mask)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out
