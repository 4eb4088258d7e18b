"""Lay out a bundle from build outputs: models, config as used, docs, README, manifest."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.bundle import manifest as mf
from edgekit.bundle.meta import (
    BundleMeta,
    EvalSetEntry,
    ExpertEntry,
    KBEntry,
    ModelEntry,
    ModelRef,
    ProvenanceEntry,
    RuntimeEntry,
    TrainingEntry,
    gptq_entry,
)
from edgekit.bundle.report import render_report
from edgekit.bundle.wheelhouse import add_site_files
from edgekit.bundle.writer import BundleWriter
from edgekit.config import LoadedConfig
from edgekit.fsutil import sha256_json, sha256_text
from edgekit.models import PreparedModel
from edgekit.pipeline.inputs import answer_settings
from edgekit.sbom import runtime_packages

README = """\
{name} {version} - an edgekit bundle

Verify every file against manifest.json:
    edgekit bundle verify {dirname}

Ask it a question (or leave the question out for an interactive chat):
    edgekit chat {dirname} "your question"

Needs only the site extra on this machine:  pip install 'edgekit[site]'
Nothing here reaches the network.
"""


def kb_manifest(loaded: LoadedConfig, kb_dir: Path, stats: dict[str, Any]) -> KBEntry:
    """The manifest's description of the bundle's knowledge base."""
    from edgekit.kb.ingest import embedder_fingerprint
    from edgekit.kb.store import EMBEDDER_DIR

    return KBEntry(
        path=mf.KB_DIR,
        embedder_fingerprint=embedder_fingerprint(kb_dir / EMBEDDER_DIR),
        documents=stats.get("documents"),
        chunks=stats.get("chunks"),
    )


def _add_training(writer: BundleWriter, trained: Any) -> tuple[TrainingEntry, list[ExpertEntry]]:
    """Reports under report/, expert adapters under adapters/<name>/; manifest entries."""

    from edgekit.pipeline.train import read_forgetting

    for name, path in trained.report_files().items():
        writer.add_file(path, f"{mf.REPORT_DIR}/{name}")
    card = trained.data_dir / "card.json"
    training = TrainingEntry(
        method="lora" if trained.adapter is not None else "full",
        forgetting=read_forgetting(trained),
        data_card=json.loads(card.read_text()) if card.is_file() else None,
        gate=trained.gate.to_json() if trained.gate is not None else None,
    )
    experts = []
    for name, adapter in trained.experts.items():
        rel = f"{mf.ADAPTERS_DIR}/{name}"
        writer.add_tree(adapter, rel)
        gguf = f"{rel}/{mf.ADAPTER_GGUF}" if (adapter / mf.ADAPTER_GGUF).is_file() else None
        experts.append(ExpertEntry(name, rel, trained.expert_patterns.get(name, []), gguf))
    return training, experts


def _provenance(
    loaded: LoadedConfig, model_sha: str, training: TrainingEntry | None
) -> ProvenanceEntry:
    """What an auditor needs to tie the bundle to its inputs and the software that runs it."""

    cfg = loaded.config
    tuned = cfg.train.enabled
    return ProvenanceEntry(
        config_sha256=sha256_text(loaded.raw_text),
        model_sha256=model_sha,
        data_config_sha256=sha256_json(cfg.data.model_dump()) if tuned else None,
        train_config_sha256=sha256_json(cfg.train.model_dump()) if tuned else None,
        eval=training.forgetting if training else None,
        runtime_packages=runtime_packages(),
    )


def _add_quant(writer: BundleWriter, quant: Any) -> dict[str, Any] | None:
    """report/quant.json + quant.png, and the GPTQ checkpoint under model/gptq/ (its
    manifest entry is returned). See edgekit/pipeline/quant.py."""
    for name, path in quant.reports.items():
        writer.add_file(path, f"{mf.REPORT_DIR}/{name}")
    if quant.gptq is None:
        return None
    writer.add_tree(quant.gptq, mf.GPTQ_DIR)
    size = sum(p.stat().st_size for p in quant.gptq.glob("*.safetensors"))
    return gptq_entry(size, quant.gptq_info)


def write_bundle(
    loaded: LoadedConfig,
    target: Path,
    base: PreparedModel,
    models: list[tuple[str, Path]],
    model_sha: str,
    tar: bool = True,
    kb_dir: Path | None = None,
    kb_stats: dict[str, Any] | None = None,
    trained: Any = None,
    wheelhouse: Path | None = None,
    eval_sets: list[Any] | None = None,
    quant: Any = None,
) -> dict[str, Any]:
    """Write the bundle directory (and tar) atomically; returns the manifest.

    ``eval_sets`` (edgekit.behaviour.evalset.EvalSet) go under eval/ for the behaviour eval.
    ``quant`` (edgekit.pipeline.quant.QuantOutputs): quality table/chart and GPTQ checkpoint.
    """

    writer = BundleWriter(target).open()
    try:
        entries = [_add_model(writer, qtype, path) for qtype, path in models]
        kb = _add_sources(writer, loaded, kb_dir, kb_stats)
        training, experts = _add_training(writer, trained) if trained is not None else (None, [])
        cfg = loaded.config
        readme = README.format(name=cfg.name, version=cfg.version, dirname=target.name)
        writer.add_bytes(readme.encode(), mf.README_FILE)
        if wheelhouse is not None:
            add_site_files(writer, wheelhouse)
        for es in eval_sets or []:
            writer.add_file(es.path, es.rel)
        gptq = _add_quant(writer, quant) if quant is not None else None
        eval_entries = [es.manifest_entry() for es in eval_sets or []]
        meta = _meta(loaded, base, model_sha, entries, gptq, kb, training, experts, eval_entries)
        meta = meta.to_json()
        # last: the report reads every report file added above
        writer.add_bytes(render_report(meta, writer.read).encode(), mf.REPORT_INDEX)
        manifest = writer.finalize(meta)
        writer.commit(tar=tar)
    except BaseException:
        writer.abort()
        raise
    return manifest


def _add_model(writer: BundleWriter, qtype: str, path: Path) -> ModelEntry:
    rel = f"{mf.MODEL_DIR}/{path.name}"
    writer.add_file(path, rel)
    return ModelEntry(rel, qtype, path.stat().st_size)


def _add_sources(
    writer: BundleWriter,
    loaded: LoadedConfig,
    kb_dir: Path | None,
    kb_stats: dict[str, Any] | None,
) -> KBEntry | None:
    """The config, docs, KB, rules and tools; returns the KB's manifest entry."""
    cfg = loaded.config
    writer.add_bytes(loaded.raw_text.encode(), mf.CONFIG_FILE)
    if cfg.docs is not None:
        writer.add_tree(cfg.docs, mf.DOCS_DIR)
    kb = None
    if kb_dir is not None:
        writer.add_tree(kb_dir, mf.KB_DIR)
        kb = kb_manifest(loaded, kb_dir, kb_stats or {})
    if cfg.prompt.rules is not None:
        writer.add_file(cfg.prompt.rules, mf.RULES_FILE)
    if cfg.tools is not None:
        writer.add_tree(cfg.tools, mf.TOOLS_DIR)
    return kb


def _meta(
    loaded: LoadedConfig,
    base: PreparedModel,
    model_sha: str,
    models: list[ModelEntry],
    gptq: dict[str, Any] | None,
    kb: KBEntry | None,
    training: TrainingEntry | None,
    experts: list[ExpertEntry],
    eval_sets: list[EvalSetEntry],
) -> BundleMeta:
    cfg = loaded.config
    adapter = ModelRef(cfg.model.adapter.name, model_sha) if cfg.model.adapter else None
    return BundleMeta(
        # set here rather than by finalize(), so the report shows the manifest's values
        edgekit_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        name=cfg.name,
        version=cfg.version,
        base_model=ModelRef(base.spec, base.sha256),
        adapter=adapter,
        models=models,
        gptq=gptq,
        kb=kb,
        training=training,
        provenance=_provenance(loaded, model_sha, training),
        experts=experts,
        eval_sets=eval_sets,
        runtime=_runtime(loaded),
    )


def _runtime(loaded: LoadedConfig) -> RuntimeEntry:
    """The site's answering defaults (the chosen settings replace `answer` after eval qa)."""
    cfg = loaded.config
    settings = answer_settings(loaded).stored()
    return RuntimeEntry(
        system_prompt=cfg.prompt.system,
        max_tokens=cfg.prompt.max_tokens,
        temperature=cfg.prompt.temperature,
        n_ctx=cfg.prompt.n_ctx,
        answer=settings,
        answer_config=dict(settings),
    )
