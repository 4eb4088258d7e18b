"""`edgekit kb ...`: knowledge-base commands (each wires options to one function)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.cli.common import _Group, progress_bar


@click.group(cls=_Group, short_help="Knowledge base: ingest, query, stats, deltas.")
def kb() -> None:
    """Knowledge base: ingest documents, query, stats, delta packages."""


def _progress_printer(quiet: bool) -> Any:
    if quiet:
        return None
    bar = progress_bar("embedding")
    return lambda source, done, total: bar(done, total, source)


@kb.command("ingest")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--db",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Knowledge base folder (created if missing).",
)
@click.option(
    "--embedder",
    default="builtin:minilm",
    show_default=True,
    help="Embedder for a new KB (an existing KB keeps its own).",
)
@click.option(
    "--query-prefix",
    default=None,
    help="Text put before questions when embedding them, for a new KB (e5: 'query: '). "
    "Default: the embedder folder's `query` prompt, else none.",
)
@click.option(
    "--passage-prefix",
    default=None,
    help="Text put before document chunks when embedding them, for a new KB (e5: "
    "'passage: '). Default: the embedder folder's `passage` prompt, else none.",
)
@click.option("--server", default=None, help="Chroma server URL instead of the embedded DB.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the ingest report as JSON here.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def kb_ingest(
    source: Path,
    db: Path,
    embedder: str,
    query_prefix: str | None,
    passage_prefix: str | None,
    server: str | None,
    report: Path | None,
    quiet: bool,
) -> None:
    """Index documents into a knowledge base.

    SOURCE is an edgekit.yaml (its docs and kb settings) or a docs folder.

    Only new or changed documents are embedded; chunks of removed documents are deleted.
    A file that cannot be parsed is named and skipped.
    """
    import json

    from edgekit.fsutil import atomic_write_json
    from edgekit.kb.embedder import PrefixSetting
    from edgekit.kb.ingest import ingest_folder
    from edgekit.pipeline.kb import ingest_config, ingest_summary

    progress = _progress_printer(quiet)
    if source.is_dir():
        kbase, rep = ingest_folder(
            source,
            db,
            embedder=embedder,
            server=server,
            progress=progress,
            embedder_prefixes=PrefixSetting(query_prefix, passage_prefix),
        )
    else:
        kbase, rep = ingest_config(source, db, progress=progress)
    stats = kbase.stats()
    for error in rep.errors:
        click.secho(f"skipped: {error}", fg="yellow", err=True)
    for warning in rep.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    click.echo(
        f"{len(rep.added)} added, {len(rep.changed)} changed, {len(rep.removed)} removed, "
        f"{len(rep.unchanged)} unchanged; {rep.chunks_embedded} chunks embedded in "
        f"{rep.seconds:.1f}s; KB: {stats['documents']} documents, {stats['chunks']} chunks"
    )
    if report:
        data = ingest_summary(stats, rep)
        atomic_write_json(report, data)
        if not quiet:
            click.echo(json.dumps(data))


@kb.command("query")
@click.argument("db", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("text")
@click.option("-k", "k", default=5, show_default=True, help="Number of hits.")
@click.option(
    "--mode", type=click.Choice(["hybrid", "bm25", "vector"]), default="hybrid", show_default=True
)
@click.option("--section", is_flag=True, help="Print the whole section around each hit.")
def kb_query(db: Path, text: str, k: int, mode: str, section: bool) -> None:
    """Show ranked hits with source, heading, page, score."""
    from edgekit.kb.store import KnowledgeBase

    kbase = KnowledgeBase.open_read_only(db)
    for rank, hit in enumerate(kbase.query(text, k=k, mode=mode), start=1):
        click.secho(f"{rank}. {hit.score:.3f}  {hit.citation()}", bold=True)
        body = kbase.section_text(hit) if section else hit.text
        click.echo("   " + body.replace("\n", "\n   ") + "\n")


@kb.command("stats")
@click.argument("db", type=click.Path(exists=True, file_okay=False, path_type=Path))
def kb_stats(db: Path) -> None:
    """Documents, chunks, embedder and collection of a KB."""
    from edgekit.kb.store import KnowledgeBase

    kbase = KnowledgeBase.open_read_only(db)
    stats = kbase.stats()
    emb = stats["embedder"]
    click.echo(f"collection: {stats['collection']}  ({stats['server'] or 'embedded Chroma'})")
    click.echo(f"documents:  {stats['documents']}\nchunks:     {stats['chunks']}")
    click.echo(
        f"embedder:   {emb.get('source')} ({emb.get('quantization')}, "
        f"max {emb.get('max_length')} tokens, fingerprint {emb.get('fingerprint', '')[:16]}…)"
    )
    prefixes = kbase.embedder.prefixes
    click.echo(
        f"pooling:    {kbase.embedder.pooling}+l2; prefixes: query {prefixes.query!r}, "
        f"passage {prefixes.passage!r}"
    )
    for source in stats["sources"]:
        click.echo(f"  {source}")


@kb.command("export-delta")
@click.argument("old_db", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("new_db", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def kb_export_delta(old_db: Path, new_db: Path, out: Path) -> None:
    """Write a delta package that turns OLD_DB into NEW_DB.

    Holds added/changed chunks with their vectors and the removed documents.
    """
    from edgekit.kb.delta import export_delta

    s = export_delta(old_db, new_db, out)
    click.echo(
        f"{out}: {len(s['added'])} added, {len(s['changed'])} changed, "
        f"{len(s['removed'])} removed documents; {s['chunks']} chunks"
    )


@kb.command("apply-delta")
@click.argument("db", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("delta", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def kb_apply_delta(db: Path, delta: Path) -> None:
    """Apply a delta package without re-embedding.

    DB must use the same embedder the delta was made with.
    """
    from edgekit.kb.delta import apply_delta

    s = apply_delta(db, delta)
    if s.get("already_applied"):
        click.echo(f"{db}: delta already applied, nothing to do")
        return
    click.echo(
        f"{db}: {len(s['added'])} added, {len(s['changed'])} changed, "
        f"{len(s['removed'])} removed documents; {s['chunks']} chunks written"
    )
