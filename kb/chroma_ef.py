"""A Chroma embedding function backed by the bundle's ONNX embedder.

Registered with Chroma under the name `edgekit-onnx`; its stored config holds only a
bundle-relative model name, never an absolute path. Collections are always created and
reopened with it: Chroma's default function would download a model on first use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from edgekit.errors import EdgekitError
from edgekit.kb.embedder import OnnxEmbedder

EF_NAME = "edgekit-onnx"
#: Embedders loaded in this process, by their bundle-relative name.
_LOADED: dict[str, OnnxEmbedder] = {}


def register_loaded(model: str, embedder: OnnxEmbedder) -> None:
    _LOADED[model] = embedder


@register_embedding_function
class EdgekitEmbeddingFunction(EmbeddingFunction[Documents]):
    def __init__(self, model: str = "embedder", embedder: OnnxEmbedder | None = None) -> None:
        if Path(model).is_absolute():
            raise EdgekitError(f"embedding function model must be bundle-relative, got {model}")
        self.model = model
        if embedder is not None:
            register_loaded(model, embedder)
        self._embedder = embedder

    @property
    def embedder(self) -> OnnxEmbedder:
        if self._embedder is None:
            self._embedder = _resolve(self.model)
        return self._embedder

    def __call__(self, input: Documents) -> Embeddings:
        """Documents added without vectors: passages."""
        return list(self.embedder.embed_passages(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        """`query_texts` of a Chroma query: questions."""
        return list(self.embedder.embed_queries(list(input)))

    @staticmethod
    def name() -> str:
        return EF_NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> EdgekitEmbeddingFunction:
        return EdgekitEmbeddingFunction(str(config["model"]))


def _resolve(model: str) -> OnnxEmbedder:
    """Find a loaded embedder, or load it from $EDGEKIT_KB_ROOT/<model>."""
    if model in _LOADED:
        return _LOADED[model]
    root = os.environ.get("EDGEKIT_KB_ROOT")
    if root and (Path(root) / model).is_dir():
        _LOADED[model] = OnnxEmbedder(Path(root) / model)
        return _LOADED[model]
    raise EdgekitError(
        f"embedder {model!r} is not loaded; open the knowledge base through edgekit "
        "(or set EDGEKIT_KB_ROOT to the bundle folder)"
    )
