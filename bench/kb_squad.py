"""Retrieval quality and speed on a real SQuAD v1.1 subset.

Indexes every paragraph, asks every question, and reports recall@1/5/10 and MRR@10 for
BM25, vector (torch, sentence-transformers), vector (ONNX int8 per-channel) and hybrid,
plus embedding throughput (paragraphs/s, ONNX int8 vs torch: the named baseline) and query
latency p50/p95. `--json` prints one JSON object with every figure as the last line.

    .venv/bin/python bench/kb_squad.py [PATH] [--json] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "squad-dev-subset.json"


def load(path: Path, limit: int | None) -> tuple[list[str], list[tuple[str, int]]]:
    data = json.loads(path.read_text())
    paras: list[str] = []
    questions: list[tuple[str, int]] = []
    for article in data["data"]:
        for p in article["paragraphs"]:
            paras.append(p["context"])
            questions += [(qa["question"], len(paras) - 1) for qa in p["qas"]]
    if limit:
        questions = questions[:limit]
    return paras, questions


def metrics(ranked: list[list[int]], gold: list[int]) -> dict[str, float]:
    out = {}
    for k in (1, 5, 10):
        out[f"R@{k}"] = float(np.mean([g in r[:k] for r, g in zip(ranked, gold)]))
    rr = [1.0 / (r[:10].index(g) + 1) if g in r[:10] else 0.0 for r, g in zip(ranked, gold)]
    out["MRR@10"] = float(np.mean(rr))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="ask only the first N questions")
    ap.add_argument("--bm25-weight", type=float, default=None)
    ap.add_argument("--vector-weight", type=float, default=None)
    ap.add_argument("--method", choices=["convex", "rrf"], default=None)
    args = ap.parse_args()

    from edgekit.kb.config_defaults import DEFAULT_FUSION
    from edgekit.kb.embedder import OnnxEmbedder
    from edgekit.kb.export import export_embedder, resolve_source
    from edgekit.kb.retrieve import BM25Index, FusionWeights, hybrid_search, vector_search

    paras, questions = load(args.path, args.limit)
    qs = [q for q, _ in questions]
    gold = [g for _, g in questions]
    fig: dict[str, object] = {"paragraphs": len(paras), "questions": len(qs)}

    # torch baseline
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(resolve_source("builtin:minilm")), device="cpu")
    st.max_seq_length = 256
    t = time.perf_counter()
    p_torch = st.encode(paras, batch_size=32, normalize_embeddings=True)
    torch_pps = len(paras) / (time.perf_counter() - t)
    q_torch = st.encode(qs, batch_size=64, normalize_embeddings=True)

    with tempfile.TemporaryDirectory() as tmp:
        export_embedder("builtin:minilm", Path(tmp) / "emb")
        emb = OnnxEmbedder(Path(tmp) / "emb")
        t = time.perf_counter()
        p_onnx = emb.embed_passages(paras)
        onnx_pps = len(paras) / (time.perf_counter() - t)
    cos = (p_onnx * p_torch).sum(axis=1)
    fig.update(
        embed_pps_torch=torch_pps,
        embed_pps_onnx_int8=onnx_pps,
        onnx_vs_torch_speed=onnx_pps / torch_pps,
        cosine_min=float(cos.min()),
        cosine_mean=float(cos.mean()),
    )

    bm25 = BM25Index(paras)
    weights = DEFAULT_FUSION
    if args.bm25_weight is not None or args.vector_weight is not None:
        weights = FusionWeights(
            bm25=weights.bm25 if args.bm25_weight is None else args.bm25_weight,
            vector=weights.vector if args.vector_weight is None else args.vector_weight,
            method=args.method or weights.method,
        )
    rows: dict[str, list[list[int]]] = {
        "bm25": [],
        "vector_torch": [],
        "vector_onnx_int8": [],
        "hybrid": [],
    }
    latency = []
    for i, q in enumerate(qs):
        rows["vector_torch"].append([j for j, _ in vector_search(p_torch, q_torch[i], 10)])
        t = time.perf_counter()
        qv = emb.embed_queries([q])[0]
        h = hybrid_search(bm25, p_onnx, q, qv, 10, weights)
        latency.append(time.perf_counter() - t)
        rows["bm25"].append([j for j, _ in bm25.search(q, 10)])
        rows["vector_onnx_int8"].append([j for j, _ in vector_search(p_onnx, qv, 10)])
        rows["hybrid"].append([j for j, _ in h[:10]])
    table = {name: metrics(r, gold) for name, r in rows.items()}
    fig["recall"] = table
    fig["fusion"] = {"bm25": weights.bm25, "vector": weights.vector, "method": weights.method}
    fig["query_latency_ms_p50"] = statistics.median(latency) * 1000
    fig["query_latency_ms_p95"] = float(np.percentile(latency, 95) * 1000)

    print(f"{len(paras)} paragraphs, {len(qs)} questions ({args.path.name})")
    print(f"{'method':<18}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR@10':>8}")
    for name, m in table.items():
        print(f"{name:<18}{m['R@1']:>7.3f}{m['R@5']:>7.3f}{m['R@10']:>7.3f}{m['MRR@10']:>8.3f}")
    print(
        f"embedding: torch {torch_pps:.1f} para/s, ONNX int8 {onnx_pps:.1f} para/s "
        f"(ratio vs torch baseline {onnx_pps / torch_pps:.2f}x); cosine to torch "
        f"min {cos.min():.3f} mean {cos.mean():.3f}"
    )
    print(
        f"hybrid query latency (BM25 + ONNX query embedding + fusion): "
        f"p50 {fig['query_latency_ms_p50']:.1f} ms, p95 {fig['query_latency_ms_p95']:.1f} ms"
    )
    if args.json:
        print(json.dumps(fig))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
