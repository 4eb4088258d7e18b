"""The quantization part of `edgekit build`: GGUF types (listed, or chosen by `auto`
against a measured budget), the quality table and chart, and the optional GPTQ checkpoint.

Writes into the work dir: gguf/model-<type>.gguf, quant/quant.json + quant.png (the
bundle's report/quant.json and report/quant.png) and gptq/model/ (the bundle's model/gptq/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.config import LoadedConfig
from edgekit.errors import EdgekitError
from edgekit.fsutil import sha256_json
from edgekit.quant import gguf as q

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
    import os

    from edgekit.runtime.threads import usable_cpus

    return max(1, int(os.environ.get("EDGEKIT_THREADS") or usable_cpus()))


def _has_matplotlib() -> bool:
    from edgekit import deps

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
    from edgekit.quant.texts import calibration_texts, eval_texts

    cfg = loaded.config.quantize
    gguf_dir, out = work / "gguf", QuantOutputs()

    def quantize_stage(qtype: str) -> tuple[str, Path, str]:
        path = gguf_dir / q.gguf_name(qtype)
        key = sha256_json({"f16": f16_key, "type": qtype})
        runner.stage(
            f"quantize {qtype}",
            key,
            [path],
            lambda: q.quantize(f16, path, qtype, log=gguf_dir / "quantize.log") and None,
        )
        return qtype, path, key

    # GPTQ first: the quality table has a row for it
    gptq_key = None
    if cfg.gptq is not None:
        calib = calibration_texts(loaded, work)
        gptq_dir = work / "gptq" / "model"
        gptq_key = sha256_json(
            {
                "model": model_sha,
                "gptq": cfg.gptq.model_dump(),
                "texts": calib.domain + calib.general,
            }
        )
        info_path = work / "gptq" / "gptq.json"
        g = cfg.gptq

        def do_gptq() -> str:
            from edgekit.fsutil import atomic_write_json
            from edgekit.quant.gptq import quantize_gptq

            r = quantize_gptq(
                model_dir,
                gptq_dir,
                calib.domain,
                g.bits,
                g.group_size,
                g.samples,
                work=work / "gptq",
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

        runner.stage("gptq", gptq_key, [gptq_dir / "config.json", info_path], do_gptq)
        out.gptq = gptq_dir
        out.gptq_info = json.loads(info_path.read_text())

    texts = eval_texts(loaded, work)
    measure_key = sha256_json(
        {
            "f16": f16_key,
            "gguf": cfg.gguf,
            "candidates": cfg.candidates if cfg.auto else None,
            "budget": cfg.budget.model_dump(),
            "tokens": cfg.eval_tokens,
            "texts": texts.mixed(),
            "gptq": gptq_key,
        }
    )
    report_json, report_png = work / "quant" / QUANT_JSON, work / "quant" / QUANT_PNG

    def do_measure(types: list[str], auto: bool) -> str:
        from edgekit.quant.auto import measure, write_report

        n_params = q.count_params(f16)
        shipped = {t: path for t, path, _ in out.ggufs}  # list mode: already quantized
        report = measure(
            f16,
            types,
            texts.mixed(),
            cfg.budget,
            produce=lambda t: shipped[t] if t in shipped else quantize_stage(t)[1],
            n_params=n_params,
            stop_when_within=auto,
            total_tokens=cfg.eval_tokens,
            threads=_threads(),
            extra_rows=_gptq_rows(out, f16, texts.mixed(), cfg, n_params),
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
        report["texts"] = texts.describe()
        if out.gptq_info is not None:
            report["gptq"] = out.gptq_info
        write_report(report, report_json, report_png if _has_matplotlib() else None)
        return f"chosen {report['chosen']}: {report['reason']}"

    if cfg.auto:
        from edgekit.quant.auto import smallest_first

        candidates = smallest_first(cfg.candidates)
        runner.stage(
            "choose quant (auto)",
            measure_key,
            [report_json],
            lambda: do_measure(candidates, auto=True),
            spinner=False,
        )
        chosen = json.loads(report_json.read_text())["chosen"]
        out.ggufs.append(quantize_stage(chosen))
    else:
        if not isinstance(cfg.gguf, list):
            raise EdgekitError(
                f"quantize.gguf must be a list of GGUF types or 'auto', not {cfg.gguf!r}"
            )
        out.ggufs = [quantize_stage(t) for t in cfg.gguf]
        if cfg.measure:
            runner.stage(
                "measure quant",
                measure_key,
                [report_json],
                lambda: do_measure(list(cfg.gguf), auto=False),
                spinner=False,
            )
    if report_json.is_file() and (cfg.auto or cfg.measure):
        out.reports[QUANT_JSON] = report_json
        if report_png.is_file():
            out.reports[QUANT_PNG] = report_png
    out.key = sha256_json(
        {"ggufs": [k for _, _, k in out.ggufs], "measure": measure_key, "gptq": gptq_key}
    )
    return out


def _gptq_rows(out: QuantOutputs, f16: Path, texts: list[str], cfg: Any, n_params: int) -> Any:
    gptq, info = out.gptq, out.gptq_info
    if gptq is None:
        return None
    if info is None:
        raise EdgekitError(f"{gptq}: GPTQ checkpoint without its gptq.json; rebuild it")

    def rows(_ref: Any) -> list[dict[str, Any]]:
        from edgekit.quant.auto import budget_dict, make_row
        from edgekit.quant.gptq import checkpoint_size, evaluate_gptq

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
