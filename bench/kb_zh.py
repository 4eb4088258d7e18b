"""Chinese retrieval on the mine-safety-zh example: recall@1/5 for BM25, vector and hybrid.

Ingests examples/mine-safety-zh/docs into a temporary knowledge base (the default embedder
and chunking unless told otherwise), asks the answerable questions of one split of its
eval/qa.jsonl and counts a hit within the first k chunks two ways: `doc`, a chunk from the
item's source document; `answer`, a chunk from that document that also contains one of the
item's reference answers (edgekit.qa.score.holds_answer, as `edgekit eval qa` counts a
retrieval hit). BM25 and hybrid run once per BM25 segmenter (`kb.bm25_segmenter`: jieba,
bigram); vector search does not segment. Prints the table side by side and the machine
load before and after; `--json` prints one JSON object with every figure as the last line.

    .venv/bin/python bench/kb_zh.py [--split test|dev|all] [--bm25-segmenter jieba|bigram|all]
                                    [--embedder SPEC] [--misses] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mine-safety-zh"
KS = (1, 5)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def ranks(hits: list[Any], item: Any) -> tuple[int | None, int | None]:
    """1-based rank of the first hit from the item's source, and of the first that also
    holds an answer (None when no hit does)."""
    from edgekit.qa.score import holds_answer

    doc = answer = None
    for n, hit in enumerate(hits, start=1):
        if hit.source != item.source:
            continue
        doc = doc or n
        if holds_answer({"source": hit.source, "text": hit.text, "page": hit.page}, item):
            answer = n
            break
    return doc, answer


def recall(found: list[int | None]) -> dict[str, float]:
    return {
        f"R@{k}": round(sum(r is not None and r <= k for r in found) / len(found), 4) for k in KS
    }


def mrr(kb: Any, items: list[Any], settings: Any) -> float:
    """Mean reciprocal rank of the first chunk holding the answer (0 when not in the top 5)."""
    from edgekit.runtime.answer.path import retrieval_weights

    weights = retrieval_weights(settings)
    total = 0.0
    for item in items:
        hits = kb.query(
            item.question, k=max(KS), weights=weights, segmenter=settings.bm25_segmenter
        )
        _, answer = ranks(hits, item)
        total += 1.0 / answer if answer else 0.0
    return total / len(items)


def choose_on_dev(kb: Any, dev: list[Any]) -> Any:
    """The fusion candidates a build tries (edgekit.qa.choose.FUSION), best on dev by MRR;
    ties keep the first (the defaults), as the build does."""
    from edgekit.bundle.answer_settings import DEFAULTS
    from edgekit.qa.choose import FUSION

    best, best_score = DEFAULTS, mrr(kb, dev, DEFAULTS)
    for alt in FUSION:
        candidate = DEFAULTS.with_values(**alt)
        score = mrr(kb, dev, candidate)
        if score > best_score + 1e-9:
            best, best_score = candidate, score
    return best


def main() -> None:
    from edgekit.bundle.answer_settings import DEFAULTS, SEGMENTERS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["test", "dev", "all"], default="test")
    ap.add_argument(
        "--bm25-segmenter",
        choices=[*SEGMENTERS, "all"],
        default="all",
        help="how BM25 (alone and in hybrid) cuts Chinese text (kb.bm25_segmenter); "
        f"all: one row each (the default setting is {DEFAULTS.bm25_segmenter})",
    )
    ap.add_argument("--embedder", default="builtin:minilm", help="kb.embedder spec")
    ap.add_argument("--docs", type=Path, default=EXAMPLE / "docs")
    ap.add_argument("--qa", type=Path, default=EXAMPLE / "eval" / "qa.jsonl")
    ap.add_argument("--misses", action="store_true", help="list the questions each row misses")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from edgekit.kb.ingest import ingest_folder
    from edgekit.qa.evalset import read_qa_file

    load_before = load_average()
    every = [i for i in read_qa_file(args.qa) if i.answerable]
    items = [i for i in every if args.split == "all" or i.split == args.split]
    dev = [i for i in every if i.split == "dev"]
    if not items:
        sys.exit(f"{args.qa}: no answerable questions in split {args.split!r}")
    segmenters = list(SEGMENTERS) if args.bm25_segmenter == "all" else [args.bm25_segmenter]
    Row = tuple[str, str | None, Any]  # mode, segmenter, fusion weights (None: defaults)
    rows: dict[str, Row] = {f"bm25 ({s})": ("bm25", s, None) for s in segmenters}
    rows["vector"] = ("vector", None, None)
    rows |= {f"hybrid ({s})": ("hybrid", s, None) for s in segmenters}

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # sources as in a bundle (docs/<file>), which is how the QA file names them
        kb, report = ingest_folder(args.docs, Path(tmp) / "kb", args.embedder, prefix="docs/")
        if report.errors:
            sys.exit("\n".join(report.errors))
        ingest_s = time.perf_counter() - start
        stats = kb.stats()
        chosen = None
        if args.split == "test" and dev:
            from edgekit.runtime.answer.path import retrieval_weights

            chosen = choose_on_dev(kb, dev)
            label = f"{chosen.bm25_weight}/{chosen.vector_weight} {chosen.bm25_segmenter}"
            rows[f"hybrid, dev-chosen ({label})"] = (
                "hybrid",
                chosen.bm25_segmenter,
                retrieval_weights(chosen),
            )
        found: dict[str, dict[str, list[int | None]]] = {}
        query_s = time.perf_counter()
        for name, (mode, segmenter, weights) in rows.items():
            doc_ranks, answer_ranks = [], []
            for item in items:
                hits = kb.query(
                    item.question, k=max(KS), mode=mode, weights=weights, segmenter=segmenter
                )
                d, a = ranks(hits, item)
                doc_ranks.append(d)
                answer_ranks.append(a)
            found[name] = {"doc": doc_ranks, "answer": answer_ranks}
        query_s = time.perf_counter() - query_s
    load_after = load_average()

    table = {
        name: {f"{kind} {k}": v for kind in ("doc", "answer") for k, v in recall(r[kind]).items()}
        for name, r in found.items()
    }
    columns = [f"{kind} R@{k}" for kind in ("doc", "answer") for k in KS]
    print(
        f"{args.docs.parent.name}: {stats['documents']} documents, {stats['chunks']} chunks, "
        f"{len(items)} answerable questions ({args.split} split), embedder {args.embedder}"
    )
    print("doc: a chunk of the item's source in the top k; answer: one holding the answer too")
    width = max(len(n) for n in table) + 2
    print(f"{'method':<{width}}" + "".join(f"{c:>12}" for c in columns))
    for name, m in table.items():
        print(f"{name:<{width}}" + "".join(f"{m[c]:>12.3f}" for c in columns))
    print(
        f"ingest {ingest_s:.1f} s, {len(rows) * len(items)} queries {query_s:.1f} s; "
        f"load average (1/5/15 min) before {load_before}, after {load_after} "
        f"on {os.cpu_count()} CPUs"
    )
    if args.misses:
        for name, r in found.items():
            missed = [i.question for i, a in zip(items, r["answer"]) if a is None]
            print(f"{name} misses (answer R@{max(KS)}): {len(missed)}")
            for q in missed:
                print(f"  {q}")
    if args.json:
        fig = {
            "example": args.docs.parent.name,
            "split": args.split,
            "questions": len(items),
            "documents": stats["documents"],
            "chunks": stats["chunks"],
            "embedder": args.embedder,
            "recall": table,
            "chosen_on_dev": chosen.tunable() if chosen else None,
            "ranks": found,
            "ingest_seconds": round(ingest_s, 2),
            "query_seconds": round(query_s, 2),
            "load_before": load_before,
            "load_after": load_after,
            "cpus": os.cpu_count(),
        }
        print(json.dumps(fig, ensure_ascii=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
