"""The quantization part of `edgekit build`: GGUF types (listed, or chosen by `auto`
against a measured budget), the quality table and chart, and the optional GPTQ checkpoint.

Writes into the work dir: gguf/model-<type>.gguf, quant/quant.json + quant.png (the
bundle's report/quant.json and report/quant.png) and gptq/model/ (the bundle's model/gptq/).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.config import LoadedConfig
from edgekit.config.layout import WorkLayout
from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_json, sha256_json
from edgekit.quant import gguf as q
from edgekit.quant.gptq import checkpoint_size, evaluate_gptq, quantize_gptq
from edgekit.runtime.threads import usable_cpus

QUANT_JSON, QUANT_PNG = "quant.json", "quant.png"


@dataclass
class QuantOutputs:
    ggufs: list[tuple[str, Path, str]] = field(default_factory=list)  # (type, path, key)
    reports: dict[str, Path] = field(default_factory=dict)  # name under report/ -> file
    gptq: Path | None = None
    gptq_info: dict[str, Any] | None = None
    key: str = ""  # everything the package stage must change with


def _threads() -> int:
    """Scoring is batched prompt processing (compute-bound, unlike decoding): every usable
    core, unless EDGEKIT_THREADS says otherwise."""

    return max(1, int(os.environ.get("EDGEKIT_THREADS") or usable_cpus()))


def _has_matplotlib() -> bool:

    return deps.has("matplotlib")


def quant_stages(
    loaded: LoadedConfig,
    runner: Any,
    work: Path,
    f16: Path,
    f16_key: str,
    model_dir: Path,
    model_sha: str,
) -> QuantOutputs:
    """Run (or skip) every quantization stage the config asks for."""
    stages = _QuantStages(loaded, runner, work, f16, f16_key)
    cfg, out = stages.cfg, stages.out
    gptq_key = stages.gptq(model_dir, model_sha) if cfg.gptq is not None else None  # first:
    measure_key = stages.measure_key(gptq_key)  # the quality table has a row for GPTQ
    if cfg.auto:
        from edgekit.quant.auto import smallest_first

        candidates = smallest_first(cfg.candidates)
        runner.stage(
            "choose quant (auto)",
            measure_key,
            [stages.report_json],
            lambda: stages.measure(candidates, auto=True),
            spinner=False,
        )
        chosen = json.loads(stages.report_json.read_text())["chosen"]
        out.ggufs.append(stages.quantize(chosen))
    else:
        if not isinstance(cfg.gguf, list):
            raise EdgekitError(
                f"quantize.gguf must be a list of GGUF types or 'auto', not {cfg.gguf!r}"
            )
        out.ggufs = [stages.quantize(t) for t in cfg.gguf]
        if cfg.measure:
            runner.stage(
                "measure quant",
                measure_key,
                [stages.report_json],
                lambda: stages.measure(list(cfg.gguf), auto=False),
                spinner=False,
            )
    if stages.report_json.is_file() and (cfg.auto or cfg.measure):
        out.reports[QUANT_JSON] = stages.report_json
        if stages.report_png.is_file():
            out.reports[QUANT_PNG] = stages.report_png
    out.key = sha256_json(
        {"ggufs": [k for _, _, k in out.ggufs], "measure": measure_key, "gptq": gptq_key}
    )
    return out


class _QuantStages:
    """The quantize, GPTQ and measure stages of one build."""

    def __init__(
        self, loaded: LoadedConfig, runner: Any, work: Path, f16: Path, f16_key: str
    ) -> None:
        from edgekit.pipeline.quant_texts import eval_texts

        self.loaded, self.runner, self.work = loaded, runner, work
        self.f16, self.f16_key = f16, f16_key
        self.cfg = loaded.config.quantize
        layout = WorkLayout(work)
        self.gguf_dir, self.out = layout.gguf, QuantOutputs()
        self.report_json = layout.quant / QUANT_JSON
        self.report_png = layout.quant / QUANT_PNG
        self.texts = eval_texts(loaded, work)

    def quantize(self, qtype: str) -> tuple[str, Path, str]:
        path = self.gguf_dir / q.gguf_name(qtype)
        key = sha256_json({"f16": self.f16_key, "type": qtype})
        log = self.gguf_dir / "quantize.log"
        f16 = self.f16
        self.runner.stage(
            f"quantize {qtype}", key, [path], lambda: q.quantize(f16, path, qtype, log=log) and None
        )
        return qtype, path, key

    def gptq(self, model_dir: Path, model_sha: str) -> str:
        """The GPTQ checkpoint, calibrated on training text (never an eval split)."""
        from edgekit.pipeline.quant_texts import calibration_texts

        g, work = self.cfg.gptq, self.work
        if g is None:
            raise EdgekitError("quantize.gptq is not set")
        calib = calibration_texts(self.loaded, work)
        gptq_work = WorkLayout(work).gptq
        gptq_dir, info_path = gptq_work / "model", gptq_work / "gptq.json"
        key = sha256_json(
            {"model": model_sha, "gptq": g.model_dump(), "texts": calib.domain + calib.general}
        )

        def do_gptq() -> str:

            r = quantize_gptq(
                model_dir,
                gptq_dir,
                calib.domain,
                g.bits,
                g.group_size,
                g.samples,
                work=gptq_work,
                fill=calib.general,
            )
            info = {
                "label": r.label,
                "bits": r.bits,
                "group_size": r.group_size,
                "samples": r.samples,
                "calibration": calib.source,
                "seconds": round(r.seconds, 1),
                "notes": r.notes,
            }
            atomic_write_json(info_path, info)
            return f"{r.label}, {r.samples} samples, {r.seconds:.0f}s " + "; ".join(r.notes)

        self.runner.stage("gptq", key, [gptq_dir / "config.json", info_path], do_gptq)
        self.out.gptq = gptq_dir
        self.out.gptq_info = json.loads(info_path.read_text())
        return key

    def measure_key(self, gptq_key: str | None) -> str:
        cfg = self.cfg
        return sha256_json(
            {
                "f16": self.f16_key,
                "gguf": cfg.gguf,
                "candidates": cfg.candidates if cfg.auto else None,
                "budget": cfg.budget.model_dump(),
                "tokens": cfg.eval_tokens,
                "texts": self.texts.mixed(),
                "gptq": gptq_key,
            }
        )

    def measure(self, types: list[str], auto: bool) -> str:
        """The quality table (and, for `auto`, the choice) against the F16 reference."""
        from edgekit.quant.auto import measure, write_report

        cfg, out, f16 = self.cfg, self.out, self.f16
        n_params = q.count_params(f16)
        shipped = {t: path for t, path, _ in out.ggufs}  # list mode: already quantized
        report = measure(
            f16,
            types,
            self.texts.mixed(),
            cfg.budget,
            produce=lambda t: shipped[t] if t in shipped else self.quantize(t)[1],
            n_params=n_params,
            stop_when_within=auto,
            total_tokens=cfg.eval_tokens,
            threads=_threads(),
            extra_rows=_gptq_rows(out, f16, self.texts.mixed(), cfg, n_params),
        )
        if not auto and types:
            report["chosen"] = types[0]
            row = next((r for r in report["rows"] if r["type"] == types[0]), None)
            report["reason"] = "set in quantize.gguf (the first type listed is the default)"
            if row is not None:
                report["reason"] += "; within budget" if row["within_budget"] else "; over budget"
        elif not auto:
            report["chosen"], report["reason"] = None, "no GGUF shipped (quantize.gguf is empty)"
        report["mode"] = "auto" if auto else "list"
        report["texts"] = self.texts.describe()
        if out.gptq_info is not None:
            report["gptq"] = out.gptq_info
        png = self.report_png if _has_matplotlib() else None
        write_report(report, self.report_json, png)
        return f"chosen {report['chosen']}: {report['reason']}"


def _gptq_rows(out: QuantOutputs, f16: Path, texts: list[str], cfg: Any, n_params: int) -> Any:
    gptq, info = out.gptq, out.gptq_info
    if gptq is None:
        return None
    if info is None:
        raise EdgekitError(f"{gptq}: GPTQ checkpoint without its gptq.json; rebuild it")

    def rows(_ref: Any) -> list[dict[str, Any]]:
        from edgekit.quant.auto import budget_dict, make_row

        metrics = evaluate_gptq(f16, gptq, texts, total_tokens=cfg.eval_tokens, threads=_threads())
        row = make_row(
            info["label"],
            checkpoint_size(gptq),
            n_params,
            metrics,
            budget_dict(cfg.budget),
        )
        row["format"] = "gptq"
        return [row]

    return rows
