"""Site-side text embedder: onnxruntime + tokenizers only (no torch), mean pooling + L2 norm.

An exported embedder folder holds `model.onnx`, `tokenizer.json` and `embedder.json`
(settings and fingerprint). `edgekit.kb.export` writes it on the build side.
"""

from __future__ import annotations

import json
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


def fingerprint(folder: Path, max_length: int) -> str:
    """Identity of an embedder: its weights, tokenizer and truncation length."""
    return sha256_json(
        {
            "model": sha256_file(folder / MODEL_FILE),
            "tokenizer": sha256_file(folder / TOKENIZER_FILE),
            "max_length": max_length,
            "pooling": "mean+l2",
        }
    )


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

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # sort by length so each batch pads little
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encs = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out
