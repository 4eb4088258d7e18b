"""Lay out a bundle from build outputs: models, config as used, docs, README, manifest."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import TUNABLE, AnswerSettings
from edgekit.bundle.writer import BundleWriter
from edgekit.config import LoadedConfig
from edgekit.models import PreparedModel

README = """\
{name} {version} - an edgekit bundle

Verify every file against manifest.json:
    edgekit bundle verify {dirname}

Ask it a question (or leave the question out for an interactive chat):
    edgekit chat {dirname} "your question"

Needs only the site extra on this machine:  pip install 'edgekit[site]'
Nothing here reaches the network.
"""


def answer_settings(loaded: LoadedConfig) -> AnswerSettings:
    """The config's prompt and retrieval settings (before any measured choice)."""
    cfg = loaded.config
    p, k = cfg.prompt, cfg.kb
    return AnswerSettings(
        system_prompt=p.system,
        max_tokens=p.max_tokens,
        temperature=p.temperature,
        n_ctx=p.n_ctx,
        top_k=k.top_k,
        context_tokens=k.context_tokens,
        fusion=k.fusion,
        bm25_weight=k.bm25_weight,
        vector_weight=k.vector_weight,
        excerpt_order=p.excerpt_order,
        prompt_style=p.prompt_style,
        repeat_penalty=p.repeat_penalty,
        loop_guard=p.loop_guard,
    )


def pinned_settings(loaded: LoadedConfig) -> list[str]:
    """AnswerSettings fields the config sets explicitly: never changed by measurement."""
    cfg = loaded.config
    return sorted((cfg.prompt.model_fields_set | cfg.kb.model_fields_set) & set(TUNABLE))


def kb_manifest(loaded: LoadedConfig, kb_dir: Path, stats: dict[str, Any]) -> dict[str, Any]:
    """The manifest's description of the bundle's knowledge base."""
    from edgekit.kb.ingest import embedder_fingerprint

    k = loaded.config.kb
    return {
        mf.K_PATH: mf.KB_DIR,
        mf.K_EMBEDDER_FINGERPRINT: embedder_fingerprint(kb_dir / "embedder"),
        mf.K_TOP_K: k.top_k,
        mf.K_CONTEXT_TOKENS: k.context_tokens,
        mf.K_FUSION: {"method": k.fusion, "bm25": k.bm25_weight, "vector": k.vector_weight},
        mf.K_BM25_SEGMENTER: k.bm25_segmenter,
        mf.K_DOCUMENTS: stats.get("documents"),
        mf.K_CHUNKS: stats.get("chunks"),
    }


def _add_training(writer: BundleWriter, trained: Any) -> tuple[dict[str, Any], list[Any]]:
    """Reports under report/, expert adapters under adapters/<name>/; manifest entries."""
    import json

    from edgekit.train.stage import read_forgetting

    for name, path in trained.report_files().items():
        writer.add_file(path, f"{mf.REPORT_DIR}/{name}")
    card = trained.data_dir / "card.json"
    training = {
        mf.K_METHOD: "lora" if trained.adapter is not None else "full",
        mf.K_FORGETTING: read_forgetting(trained),
        mf.K_DATA_CARD: json.loads(card.read_text()) if card.is_file() else None,
        mf.K_GATE: trained.gate.to_json() if trained.gate is not None else None,
    }
    experts = []
    for name, adapter in trained.experts.items():
        rel = f"{mf.ADAPTERS_DIR}/{name}"
        writer.add_tree(adapter, rel)
        entry = {
            mf.K_NAME: name,
            mf.K_PATH: rel,
            mf.K_PATTERNS: trained.expert_patterns.get(name, []),
        }
        if (adapter / "adapter.gguf").is_file():
            entry[mf.K_GGUF] = f"{rel}/adapter.gguf"
        experts.append(entry)
    return training, experts


def _provenance(loaded: LoadedConfig, model_sha: str, training: Any) -> dict[str, Any]:
    """What an auditor needs to tie the bundle to its inputs and the software that runs it."""
    from edgekit.fsutil import sha256_json, sha256_text
    from edgekit.sbom import runtime_packages

    cfg = loaded.config
    return {
        "config_sha256": sha256_text(loaded.raw_text),
        mf.K_MODEL_SHA256: model_sha,
        "data_config_sha256": sha256_json(cfg.data.model_dump()) if cfg.train.enabled else None,
        "train_config_sha256": sha256_json(cfg.train.model_dump()) if cfg.train.enabled else None,
        "eval": (training or {}).get(mf.K_FORGETTING),
        "runtime_packages": runtime_packages(),
    }


def _add_quant(writer: BundleWriter, quant: Any) -> dict[str, Any] | None:
    """report/quant.json + quant.png, and the GPTQ checkpoint under model/gptq/ (its
    manifest entry is returned). See edgekit/quant/stage.py."""
    for name, path in quant.reports.items():
        writer.add_file(path, f"{mf.REPORT_DIR}/{name}")
    if quant.gptq is None:
        return None
    writer.add_tree(quant.gptq, mf.GPTQ_DIR)
    size = sum(p.stat().st_size for p in quant.gptq.glob("*.safetensors"))
    return {mf.K_PATH: mf.GPTQ_DIR, mf.K_SIZE: size, **(quant.gptq_info or {})}


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
    ``quant`` (edgekit.quant.stage.QuantOutputs): quality table/chart and GPTQ checkpoint.
    """
    from edgekit.bundle.report import render_report

    cfg = loaded.config
    writer = BundleWriter(target).open()
    try:
        entries = []
        for qtype, path in models:
            rel = f"{mf.MODEL_DIR}/{path.name}"
            writer.add_file(path, rel)
            entries.append({mf.K_PATH: rel, mf.K_QTYPE: qtype, mf.K_SIZE: path.stat().st_size})
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
        training, experts = None, []
        if trained is not None:
            training, experts = _add_training(writer, trained)
        readme = README.format(name=cfg.name, version=cfg.version, dirname=target.name)
        writer.add_bytes(readme.encode(), mf.README_FILE)
        if wheelhouse is not None:
            from edgekit.bundle.wheelhouse import add_site_files

            add_site_files(writer, wheelhouse)
        for es in eval_sets or []:
            writer.add_file(es.path, es.rel)
        gptq = _add_quant(writer, quant) if quant is not None else None
        adapter = None
        if cfg.model.adapter is not None:
            adapter = {mf.K_ID: cfg.model.adapter.name, mf.K_SHA256: model_sha}
        meta = {
            # set here rather than by finalize(), so the report shows the manifest's values
            mf.K_EDGEKIT_VERSION: __version__,
            mf.K_CREATED: datetime.now(timezone.utc).isoformat(timespec="seconds"),
            mf.K_NAME: cfg.name,
            mf.K_VERSION: cfg.version,
            mf.K_BASE_MODEL: {mf.K_ID: base.spec, mf.K_SHA256: base.sha256},
            mf.K_ADAPTER: adapter,
            mf.K_MODELS: entries,
            mf.K_DEFAULT_MODEL: entries[0][mf.K_PATH] if entries else None,
            mf.K_GPTQ: gptq,
            mf.K_KB: kb,
            mf.K_TRAINING: training,
            mf.K_PROVENANCE: _provenance(loaded, model_sha, training),
            mf.K_EXPERTS: experts,
            mf.K_EVAL_SETS: [es.manifest_entry() for es in eval_sets or []],
            mf.K_RUNTIME: {
                mf.K_SYSTEM_PROMPT: cfg.prompt.system,
                mf.K_MAX_TOKENS: cfg.prompt.max_tokens,
                mf.K_TEMPERATURE: cfg.prompt.temperature,
                mf.K_N_CTX: cfg.prompt.n_ctx,
                mf.K_ANSWER: answer_settings(loaded).tunable(),
                mf.K_ANSWER_CONFIG: answer_settings(loaded).tunable(),
            },
        }
        # last: the report reads every report file added above
        writer.add_bytes(render_report(meta, writer.read).encode(), mf.REPORT_INDEX)
        manifest = writer.finalize(meta)
        writer.commit(tar=tar)
    except BaseException:
        writer.abort()
        raise
    return manifest
