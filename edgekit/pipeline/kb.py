"""Knowledge-base stages of `edgekit build`: export the embedder, ingest the config's docs
with its `kb` settings."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from edgekit.bundle.manifest import DOCS_DIR
from edgekit.config import KBSection, LoadedConfig, load_config
from edgekit.config.layout import WorkLayout
from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_json, sha256_json, sha256_tree
from edgekit.kb.embedder import PrefixSetting
from edgekit.kb.ingest import ingest_folder
from edgekit.kb.records import IngestReport
from edgekit.kb.store import KnowledgeBase
from edgekit.pipeline.runner import RAN, SKIPPED, StageResult, StageRunner


def kb_stages(
    loaded: LoadedConfig, runner: StageRunner, console: Console, work: Path
) -> tuple[Path | None, str | None]:
    """Knowledge base: ONNX embedder (cached by source hash) + incremental ingest.
    Returns (KB folder, stage key), or (None, None) without docs or with kb.enabled off."""
    cfg = loaded.config
    kb_dir: Path | None = None
    kb_key = None
    if cfg.docs is not None and cfg.kb.enabled:
        from edgekit.kb.export import cached_embedder
        from edgekit.kb.ingest import drop_if_other_embedder, embedder_fingerprint

        t0 = time.perf_counter()
        with console.status("[bold]export embedder[/] …"):
            emb_dir, emb_cached = cached_embedder(cfg.kb.embedder, prefix_setting(cfg.kb))
        fingerprint = embedder_fingerprint(emb_dir)
        runner.record(
            StageResult(
                "export embedder",
                SKIPPED if emb_cached else RAN,
                time.perf_counter() - t0,
                cfg.kb.embedder,
            ),
            fingerprint,
        )
        kb_dir, report_path = WorkLayout(work).kb, WorkLayout(work).kb_report
        kb_key = sha256_json(
            {"embedder": fingerprint, "docs": sha256_tree(cfg.docs), "kb": cfg.kb.model_dump()}
        )

        def do_ingest() -> str:
            # an existing KB keeps its embedder: another embedder, pooling or prefix re-embeds
            drop_if_other_embedder(kb_dir, fingerprint)
            report = ingest_in_subprocess(loaded.path, kb_dir, report_path)
            show_ingest_problems(console, report)
            if not report["documents"]:
                raise EdgekitError(
                    f"no document under {cfg.docs} could be indexed: fix or replace the "
                    "files listed above (or set kb.enabled: false)"
                )
            return (
                f"{report['documents']} documents, {report['chunks']} chunks, "
                f"{report['chunks_embedded']} embedded"
            )

        runner.stage("ingest kb", kb_key, [kb_dir / "kb.json", report_path], do_ingest)

    return kb_dir, kb_key


def show_ingest_problems(console: Console, report: dict[str, Any]) -> None:
    """The files an ingest skipped and what to know about those it indexed, in yellow."""
    for line in report["errors"]:
        console.print(f"[yellow]skipped[/] {escape(line)}")
    for line in report.get("warnings", []):
        console.print(f"[yellow]warning[/] {escape(line)}")


def ingest_in_subprocess(config: Path, kb_dir: Path, report: Path) -> dict[str, Any]:
    """Ingest in a process of its own, so Chroma has closed every file before the KB folder
    is copied into the bundle. Writes and returns the ingest report."""

    spawn = multiprocessing.get_context("spawn")  # no inherited threads or open handles
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        data = pool.submit(_ingest_report, config, kb_dir).result()
    atomic_write_json(report, data)
    return data


def _ingest_report(config: Path, kb_dir: Path) -> dict[str, Any]:
    kbase, rep = ingest_config(config, kb_dir)
    stats = kbase.stats()
    kbase.close()
    return ingest_summary(stats, rep)


def ingest_summary(stats: dict[str, Any], rep: IngestReport) -> dict[str, Any]:
    """The ingest report written beside the KB (kb-report.json)."""
    return {
        "documents": stats["documents"],
        "chunks": stats["chunks"],
        "chunks_embedded": rep.chunks_embedded,
        "added": rep.added,
        "changed": rep.changed,
        "removed": rep.removed,
        "errors": rep.errors,
        "warnings": rep.warnings,
        "seconds": rep.seconds,
    }


def prefix_setting(kb: KBSection) -> PrefixSetting:
    """The embedder prefixes a config's `kb` section asks for."""
    return PrefixSetting(kb.query_prefix, kb.passage_prefix)


def ingest_config(
    config: Path, db: Path, progress: Callable[[str, int, int], None] | None = None
) -> tuple[KnowledgeBase, IngestReport]:
    """Ingest a config's `docs` with its `kb` settings; sources are bundle-relative (docs/...)."""
    cfg = load_config(config).config
    if cfg.docs is None:
        raise EdgekitError(f"{config}: has no `docs` folder to ingest")
    k = cfg.kb
    return ingest_folder(
        cfg.docs,
        db,
        k.embedder,
        k.chunk_tokens,
        k.overlap_tokens,
        k.collection,
        k.server,
        prefix=f"{DOCS_DIR}/",
        progress=progress,
        embedder_prefixes=prefix_setting(k),
    )
