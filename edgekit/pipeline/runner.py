"""The stage runner under `edgekit build`: each stage has a key (the hash of its inputs and
settings); a stage whose key matches the last successful run and whose outputs are still in
place is skipped, so re-running an unchanged config costs seconds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console

from edgekit.config import LoadedConfig
from edgekit.config.layout import WorkLayout
from edgekit.fsutil import atomic_write_json
from edgekit.memory import PeakRss, format_rss

STATE_FILE = "stages.json"
STAGE_LOG = "build-log.jsonl"
RAN, SKIPPED = "ran", "skipped"


@dataclass
class StageResult:
    name: str
    action: str
    seconds: float
    detail: str = ""
    #: Peak RSS while the stage ran (MiB): this process's high-water mark since the stage's
    #: start (what it already held counts), or a child process's peak if that was larger.
    #: None when not measured (skipped stages, stages recorded without `StageRunner.stage`).
    peak_rss_mb: float | None = None


@dataclass
class BuildResult:
    bundle: Path
    tar: Path | None
    stages: list[StageResult] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def work_dir(loaded: LoadedConfig) -> Path:
    """Build cache for one config: `<config folder>/.edgekit/<name>/`."""
    return WorkLayout.of(loaded).root


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

    def is_fresh(self, name: str, key: str, outputs: list[Path]) -> bool:
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

    def record(self, result: StageResult, key: str) -> None:
        self.results.append(result)
        line = {
            "run": self.run_id,
            "stage": result.name,
            "action": result.action,
            "seconds": round(result.seconds, 3),
            "peak_rss_mb": result.peak_rss_mb,
            "key": key,
            "detail": result.detail,
        }
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.work / STAGE_LOG, "a") as f:
            f.write(json.dumps(line) + "\n")
        mark = "[green]✓[/]" if result.action == RAN else "[dim]•[/]"
        if result.action != RAN:
            what = "skipped (inputs unchanged)"
        elif result.peak_rss_mb is None:
            what = f"done in {result.seconds:.1f}s"
        else:
            what = f"done in {result.seconds:.1f}s, peak {format_rss(result.peak_rss_mb)}"
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
        skip = cached if cached is not None else self.is_fresh(name, key, outputs)
        if skip:
            self.record(StageResult(name, SKIPPED, 0.0), key)
            return
        start = time.perf_counter()
        with PeakRss() as peak:
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
        seconds = time.perf_counter() - start
        self.record(StageResult(name, RAN, seconds, detail, peak.mib), key)
