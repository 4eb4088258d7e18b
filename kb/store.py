"""The knowledge base: a self-contained folder with the embedder and an embedded Chroma DB.

    <kb>/kb.json      settings: collection, embedder fingerprint, chunking, optional server
    <kb>/embedder/    the ONNX embedder (model.onnx, tokenizer.json, embedder.json)
    <kb>/chroma/      Chroma's PersistentClient folder (absent when a Chroma server is used)

Chunks are keyed by document: re-ingesting embeds only new or changed documents and deletes
the chunks of removed ones.
"""

from __future__ import annotations

import atexit
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.bundle.answer_settings import DEFAULTS
from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_json, sha256_text
from edgekit.kb.chroma_client import CHROMA_DIR, chroma_client
from edgekit.kb.chunking import CHUNK_TOKENS, OVERLAP_TOKENS, chunk_text
from edgekit.kb.config_defaults import DEFAULT_FUSION
from edgekit.kb.embedder import OnnxEmbedder
from edgekit.kb.loaders import Document, LoaderError, iter_documents
from edgekit.kb.records import (
    C_CHUNK,
    C_DOC_SHA,
    C_END,
    C_HEADING,
    C_PAGE,
    C_SECTION,
    C_SOURCE,
    C_START,
    C_TITLE,
    HEADING_SEP,
    Hit,
    IngestReport,
)
from edgekit.kb.retrieve import BM25Index, FusionWeights, fuse
from edgekit.kb.scratch import Scratch
from edgekit.kb.segment import DEFAULT_SEGMENTER, Segmenter

KB_FILE = "kb.json"
EMBEDDER_DIR = "embedder"
DEFAULT_COLLECTION = "edgekit_kb"

# kb.json keys
K_COLLECTION, K_FINGERPRINT, K_SERVER = "collection", "embedder_fingerprint", "server"
K_CHUNK_TOKENS, K_OVERLAP = "chunk_tokens", "overlap_tokens"


def embed_text(doc_title: str, heading: str, text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: its heading path, then its text."""
    return f"{heading}\n{text}" if heading else text


class KnowledgeBase:
    def __init__(
        self, kb_dir: Path, settings: dict[str, Any], embedder: OnnxEmbedder, collection: Any
    ) -> None:
        self.dir = kb_dir
        self.settings = settings
        self.embedder = embedder
        self.collection = collection
        self._cache: dict[str, Any] | None = None
        self._bm25: dict[str, BM25Index] = {}  # per segmenter
        #: retrieval settings: AnswerSettings' defaults until a caller applies a bundle's
        #: (edgekit.runtime.answer.knowledge.use_answer_settings)
        self.default_weights: FusionWeights = DEFAULT_FUSION
        self.top_k = DEFAULTS.top_k
        #: how BM25 cuts Chinese text (edgekit.kb.segment); the index follows a change
        self.segmenter: Segmenter = DEFAULT_SEGMENTER
        self.context_tokens = DEFAULTS.context_tokens
        #: private copy made by open_read_only, removed by close()
        self.scratch: Scratch | None = None

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        kb_dir: Path,
        embedder_dir: Path,
        server: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        chunk_tokens: int = CHUNK_TOKENS,
        overlap_tokens: int = OVERLAP_TOKENS,
    ) -> KnowledgeBase:
        """Open ``kb_dir``, making it (with a copy of the embedder) if it does not exist."""
        kb_dir = Path(kb_dir)
        if (kb_dir / KB_FILE).is_file():
            return cls.open(kb_dir)
        if not 3 <= len(collection) <= 512:
            raise EdgekitError(f"collection name {collection!r} must be 3-512 characters")
        kb_dir.mkdir(parents=True, exist_ok=True)
        if (kb_dir / EMBEDDER_DIR).exists():
            shutil.rmtree(kb_dir / EMBEDDER_DIR)
        shutil.copytree(embedder_dir, kb_dir / EMBEDDER_DIR)
        embedder = OnnxEmbedder(kb_dir / EMBEDDER_DIR)
        settings = {
            K_COLLECTION: collection,
            K_FINGERPRINT: embedder.fingerprint,
            K_SERVER: server,
            K_CHUNK_TOKENS: chunk_tokens,
            K_OVERLAP: overlap_tokens,
        }
        atomic_write_json(kb_dir / KB_FILE, settings)
        return cls.open(kb_dir)

    @classmethod
    def open(cls, kb_dir: Path, server: str | None = None) -> KnowledgeBase:
        """Open an existing knowledge base folder (``server`` overrides kb.json's)."""
        from edgekit.kb.chroma_ef import EdgekitEmbeddingFunction

        kb_dir = Path(kb_dir)
        if not (kb_dir / KB_FILE).is_file():
            raise EdgekitError(
                f"{kb_dir}: not a knowledge base (no {KB_FILE}); "
                "create one with `edgekit kb ingest`"
            )
        settings = json.loads((kb_dir / KB_FILE).read_text())
        embedder = OnnxEmbedder(kb_dir / EMBEDDER_DIR)
        if embedder.fingerprint != settings[K_FINGERPRINT]:
            raise EdgekitError(
                f"{kb_dir}: embedder fingerprint differs from the one the KB "
                "was built with; re-ingest the documents"
            )
        client = chroma_client(kb_dir, server or settings.get(K_SERVER))
        ef = EdgekitEmbeddingFunction(EMBEDDER_DIR, embedder=embedder)
        col = client.get_or_create_collection(
            settings[K_COLLECTION],
            embedding_function=ef,
            metadata={K_FINGERPRINT: embedder.fingerprint},
            configuration={"hnsw": {"space": "cosine"}},
        )
        stored = (col.metadata or {}).get(K_FINGERPRINT)
        if stored and stored != embedder.fingerprint:
            raise EdgekitError(
                f"collection {col.name} was embedded with another embedder "
                f"({stored[:12]}…); re-ingest into a new collection"
            )
        return cls(kb_dir, settings, embedder, col)

    @classmethod
    def open_read_only(cls, kb_dir: Path) -> KnowledgeBase:
        """Open ``kb_dir`` leaving every byte of it as it was.

        Chroma writes to its SQLite file and index files even when it only answers queries,
        which would break a signed bundle. Its folder is copied to a private temp folder
        (edgekit.kb.scratch: removed by ``close()``, at exit, or by the next read-only open
        after this process dies); the embedder is read in place through a link.
        """
        kb_dir = Path(kb_dir)
        if not (kb_dir / KB_FILE).is_file():
            return cls.open(kb_dir)  # the same clear error, nothing copied
        scratch = Scratch()
        atexit.register(scratch.remove)
        work = scratch.path
        try:
            shutil.copy2(kb_dir / KB_FILE, work / KB_FILE)
            if (kb_dir / CHROMA_DIR).is_dir():
                shutil.copytree(kb_dir / CHROMA_DIR, work / CHROMA_DIR)
            (work / EMBEDDER_DIR).symlink_to((kb_dir / EMBEDDER_DIR).resolve())
            kb = cls.open(work)
        except BaseException:
            scratch.remove()  # a full disk or a broken KB leaves no copy behind
            raise
        kb.scratch = scratch
        return kb

    def close(self) -> None:
        """Remove the private copy a read-only open made (no-op otherwise)."""
        if self.scratch is not None:
            self.scratch.remove()
            self.scratch = None

    # ---- reading -------------------------------------------------------------------------
    def _all(self) -> dict[str, Any]:
        if self._cache is None:
            got = self.collection.get(include=["documents", "metadatas"])
            self._cache = {
                "ids": got["ids"],
                "documents": got["documents"],
                "metadatas": got["metadatas"],
            }
        return self._cache

    def _invalidate(self) -> None:
        self._cache = None
        self._bm25 = {}

    def documents(self) -> dict[str, str]:
        """source -> document sha256 of everything indexed."""
        return {m[C_SOURCE]: m[C_DOC_SHA] for m in self._all()["metadatas"]}

    def stats(self) -> dict[str, Any]:
        rows = self._all()
        sources = self.documents()
        return {
            "documents": len(sources),
            "chunks": len(rows["ids"]),
            "collection": self.settings[K_COLLECTION],
            "embedder": self.embedder.meta,
            "server": self.settings.get(K_SERVER),
            "sources": sorted(sources),
        }

    # ---- writing -------------------------------------------------------------------------
    def _chunk_document(
        self, doc: Document, source: str
    ) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        ids, texts, metas = [], [], []
        tokens = int(self.settings[K_CHUNK_TOKENS])
        overlap = int(self.settings[K_OVERLAP])
        n = 0
        for s_idx, section in enumerate(doc.sections):
            heading = HEADING_SEP.join(section.heading_path)
            for span in chunk_text(section.text, self.embedder.count_tokens, tokens, overlap):
                ids.append(f"{sha256_text(source)[:10]}-{doc.sha256[:10]}-{n:05d}")
                texts.append(section.text[span.start : span.end])
                metas.append(
                    {
                        C_SOURCE: source,
                        C_TITLE: doc.title,
                        C_HEADING: heading,
                        C_PAGE: section.page or -1,
                        C_DOC_SHA: doc.sha256,
                        C_CHUNK: n,
                        C_SECTION: s_idx,
                        C_START: span.start,
                        C_END: span.end,
                    }
                )
                n += 1
        return ids, texts, metas

    def add_rows(
        self,
        ids: list[str],
        texts: list[str],
        metas: list[dict[str, Any]],
        vectors: np.ndarray | list[list[float]],
        batch: int = 256,
    ) -> None:
        for i in range(0, len(ids), batch):
            self.collection.add(
                ids=ids[i : i + batch],
                documents=texts[i : i + batch],
                metadatas=metas[i : i + batch],
                embeddings=np.asarray(vectors[i : i + batch], dtype=np.float32),
            )
        self._invalidate()

    def delete_sources(self, sources: list[str]) -> None:
        for source in sources:
            self.collection.delete(where={C_SOURCE: source})
        self._invalidate()

    def ingest(
        self,
        folder: Path,
        prefix: str = "",
        progress: Callable[[str, int, int], None] | None = None,
    ) -> IngestReport:
        """Index every supported document under ``folder``; sources are ``prefix + relpath``."""
        start = time.perf_counter()
        folder = Path(folder).resolve()
        report = IngestReport()
        known = self.documents()
        found: dict[str, Document] = {}
        for item in iter_documents(folder):
            if isinstance(item, LoaderError):
                report.errors.append(str(item))
                continue
            found[prefix + item.path.relative_to(folder).as_posix()] = item
            report.warnings += [f"{item.path}: {w}" for w in item.warnings]
        failed = {
            prefix + Path(e.split(": ", 1)[0]).resolve().relative_to(folder).as_posix()
            for e in report.errors
            if e.startswith(str(folder))
        }
        todo = []
        for source, doc in found.items():
            if source not in known:
                report.added.append(source)
                todo.append((source, doc))
            elif known[source] != doc.sha256:
                report.changed.append(source)
                todo.append((source, doc))
            else:
                report.unchanged.append(source)
        # a file that now fails to parse keeps its old chunks rather than vanishing
        report.removed = sorted(set(known) - set(found) - failed)
        self.delete_sources(report.removed + report.changed)
        for i, (source, doc) in enumerate(todo):
            if progress:
                progress(source, i, len(todo))
            ids, texts, metas = self._chunk_document(doc, source)
            if not ids:
                continue
            vectors = self.embedder.embed_passages(
                [embed_text(doc.title, m[C_HEADING], t) for t, m in zip(texts, metas)]
            )
            self.add_rows(ids, texts, metas, vectors)
            report.chunks_embedded += len(ids)
        if progress:
            progress("", len(todo), len(todo))
        report.seconds = time.perf_counter() - start
        return report

    # ---- querying ------------------------------------------------------------------------
    def _bm25_index(self, segmenter: Segmenter) -> BM25Index:
        if segmenter not in self._bm25:
            rows = self._all()
            self._bm25[segmenter] = BM25Index(
                [
                    embed_text("", m[C_HEADING], d)
                    for d, m in zip(rows["documents"], rows["metadatas"])
                ],
                segmenter=segmenter,
            )
        return self._bm25[segmenter]

    def query(
        self,
        text: str,
        k: int | None = None,
        weights: FusionWeights | None = None,
        mode: str = "hybrid",
        depth: int = 50,
        segmenter: Segmenter | None = None,
    ) -> list[Hit]:
        """Top ``k`` chunks for ``text``: ``mode`` is hybrid, bm25 or vector.

        ``k``, ``weights`` and ``segmenter`` default to ``self.top_k``,
        ``self.default_weights`` and ``self.segmenter``.
        """
        k = k or self.top_k
        weights = weights or self.default_weights
        rows = self._all()
        if not rows["ids"]:
            return []
        qv = self.embedder.embed_queries([text])[0]
        index = {cid: i for i, cid in enumerate(rows["ids"])}
        vec: dict[int, float] = {}
        if mode in ("hybrid", "vector"):
            res = self.collection.query(
                query_embeddings=[qv], include=["distances"], n_results=min(depth, len(rows["ids"]))
            )
            vec = {index[c]: 1.0 - float(d) for c, d in zip(res["ids"][0], res["distances"][0])}
        bm: dict[int, float] = {}
        if mode in ("hybrid", "bm25"):
            scores = self._bm25_index(segmenter or self.segmenter).scores(text)
            top = np.argsort(-scores, kind="stable")[:depth]
            bm = {int(i): float(scores[i]) for i in top if scores[i] > 0}
            if mode == "hybrid":
                for i in set(vec) - set(bm):
                    bm[i] = float(scores[i])
        if mode == "hybrid":
            missing = [rows["ids"][i] for i in set(bm) - set(vec)]
            if missing:
                got = self.collection.get(ids=missing, include=["embeddings"])
                for cid, emb in zip(got["ids"], got["embeddings"]):
                    vec[index[cid]] = float(np.asarray(emb, dtype=np.float32) @ qv)
            ranked = fuse(list(bm.items()), list(vec.items()), weights)
        else:
            ranked = sorted((bm or vec).items(), key=lambda kv: (-kv[1], kv[0]))
        return [
            Hit(rows["ids"][i], rows["documents"][i], s, rows["metadatas"][i])
            for i, s in ranked[:k]
        ]

    def section_text(self, hit: Hit) -> str:
        """The whole section a hit came from, put back together from its chunks."""
        got = self.collection.get(
            where={
                "$and": [
                    {C_DOC_SHA: hit.meta[C_DOC_SHA]},
                    {C_SOURCE: hit.source},
                    {C_SECTION: hit.meta[C_SECTION]},
                ]
            },
            include=["documents", "metadatas"],
        )
        parts = sorted(zip(got["metadatas"], got["documents"]), key=lambda p: p[0][C_START])
        text, end = "", 0
        for meta, doc in parts:
            if meta[C_START] >= end:
                text += (" " if text else "") + doc
            else:
                text += doc[end - meta[C_START] :]
            end = max(end, meta[C_END])
        return text
