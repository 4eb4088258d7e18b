"""Measure GGUF types against F16 and pick the smallest within a quality budget.

The table is what `report/quant.json` holds:

    {"reference": "F16", "budget": {"max_kld", "max_ppl_increase"},
     "rows": [{"type", "size", "bits_per_weight", "ppl", "dppl_pct", "kld", "top1",
               "within_budget", "tokens_per_s" (optional)}],
     "chosen": TYPE or null, "reason": str, "texts": {...}}

The F16 reference is a row too (ΔPPL 0, KLD 0): when no candidate is within budget, the
reference is what `auto` ships.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.fsutil import atomic_write_json
from edgekit.quant import evaluate as ev
from edgekit.quant.chart import plot_quant
from edgekit.quant.gguf import F16

#: Rough bits per weight of each llama.cpp type, to order candidates from the smallest.
NOMINAL_BITS = {
    "Q2_K": 2.6,
    "Q3_K_S": 3.5,
    "Q3_K_M": 3.9,
    "Q3_K_L": 4.3,
    "Q4_0": 4.5,
    "Q4_K_S": 4.6,
    "Q4_K_M": 4.9,
    "Q4_1": 5.0,
    "Q5_0": 5.5,
    "Q5_K_S": 5.5,
    "Q5_K_M": 5.7,
    "Q5_1": 6.0,
    "Q6_K": 6.6,
    "Q8_0": 8.5,
    "F16": 16.0,
}


def smallest_first(types: list[str]) -> list[str]:
    return sorted(types, key=lambda t: NOMINAL_BITS.get(t.upper(), 99.0))


def budget_dict(budget: Any) -> dict[str, float]:
    if isinstance(budget, dict):
        return {k: float(budget[k]) for k in ("max_kld", "max_ppl_increase")}
    return {"max_kld": budget.max_kld, "max_ppl_increase": budget.max_ppl_increase}


def within_budget(row: dict[str, Any], budget: dict[str, float]) -> bool:
    return row["kld"] <= budget["max_kld"] and row["dppl_pct"] <= budget["max_ppl_increase"]


def make_row(
    qtype: str, size: int, n_params: int, metrics: dict[str, float], budget: dict[str, float]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "type": qtype,
        "size": size,
        "bits_per_weight": size * 8 / n_params if n_params else None,
        **{k: metrics[k] for k in ("ppl", "dppl_pct", "kld", "top1")},
    }
    if "tokens_per_s" in metrics:
        row["tokens_per_s"] = metrics["tokens_per_s"]
    row["within_budget"] = within_budget(row, budget)
    return row


def reference_row(ref: ev.Reference, n_params: int, budget: dict[str, float]) -> dict[str, Any]:
    metrics = {"ppl": ref.ppl, "dppl_pct": 0.0, "kld": 0.0, "top1": 1.0}
    return make_row(F16, ref.path.stat().st_size, n_params, metrics, budget)


def _fmt(row: dict[str, Any]) -> str:
    return f"KLD {row['kld']:.3g}, ΔPPL {row['dppl_pct']:+.2f}%"


def choose(rows: list[dict[str, Any]], budget: dict[str, float]) -> tuple[str | None, str]:
    """The smallest GGUF row within budget (the F16 reference when no other is), and why."""
    limits = f"KLD ≤ {budget['max_kld']:g} and ΔPPL ≤ {budget['max_ppl_increase']:g}%"
    ggufs = [r for r in rows if not r.get("format")]
    ok = sorted((r for r in ggufs if r["within_budget"]), key=lambda r: r["size"])
    quantized = [r for r in ok if r["type"] != F16]
    if quantized:
        best = quantized[0]
        smaller = [r["type"] for r in ggufs if r["size"] < best["size"] and r["type"] != F16]
        why = f"smallest type within budget ({limits}): {_fmt(best)}"
        if smaller:
            why += f"; smaller {', '.join(smaller)} exceeded it"
        return best["type"], why
    if ok:
        tried = ", ".join(r["type"] for r in ggufs if r["type"] != F16) or "none"
        return F16, f"no quantized type within budget ({limits}; tried {tried}): shipping F16"
    return None, "nothing measured within budget"


def measure(
    f16: Path,
    types: list[str],
    texts: list[str],
    budget: Any,
    produce: Callable[[str], Path],
    n_params: int,
    stop_when_within: bool = False,
    max_tokens: int = 256,
    total_tokens: int = 4096,
    threads: int = 1,
    speed: bool = False,
    extra_rows: Callable[[ev.Reference], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Score each type (``produce(type)`` gives its GGUF, quantizing when needed) against
    F16, in the given order; with ``stop_when_within`` stop at the first within budget."""
    limits = budget_dict(budget)
    ref = ev.reference(f16, texts, max_tokens, total_tokens, threads)
    rows = [reference_row(ref, n_params, limits)]
    if speed:
        rows[0]["tokens_per_s"] = ev.generation_speed(f16, threads)
    for qtype in types:
        if qtype == F16:
            continue
        path = produce(qtype)
        metrics = ev.compare_gguf(ref, path, threads)
        if speed:
            metrics["tokens_per_s"] = ev.generation_speed(path, threads)
        rows.append(make_row(qtype, path.stat().st_size, n_params, metrics, limits))
        if stop_when_within and rows[-1]["within_budget"]:
            break
    if extra_rows is not None:
        rows += extra_rows(ref)
    chosen, reason = choose(rows, limits)
    return {
        "reference": F16,
        "budget": limits,
        "rows": rows,
        "chosen": chosen,
        "reason": reason,
        "tokens": ref.tokens,
        "sequences": len(ref.ids),
    }


def write_report(report: dict[str, Any], json_path: Path, png_path: Path | None) -> None:
    """quant.json, and the size-vs-quality chart beside it when matplotlib is installed."""
    atomic_write_json(json_path, report)
    if png_path is not None:
        plot_quant(report, png_path)


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"{'type':<14}{'MiB':>8}{'bpw':>7}{'PPL':>10}{'ΔPPL %':>9}{'KLD':>9}{'top-1':>8}"
        f"{'tok/s':>8}  within budget"
    ]
    nan = float("nan")
    for r in report["rows"]:
        tps, bpw = r.get("tokens_per_s"), r.get("bits_per_weight")
        ok = "yes" if r["within_budget"] else "no"
        lines.append(
            f"{r['type']:<14}{r['size'] / 2**20:>8.1f}{bpw if bpw is not None else nan:>7.2f}"
            f"{r['ppl']:>10.3f}{r['dppl_pct']:>+9.2f}{r['kld']:>9.5f}{r['top1']:>8.1%}"
            f"{tps if tps is not None else nan:>8.1f}  {ok}"
        )
    b = report["budget"]
    lines.append(
        f"budget: KLD ≤ {b['max_kld']:g}, ΔPPL ≤ {b['max_ppl_increase']:g}%  "
        f"({report.get('tokens', '?')} tokens scored)"
    )
    lines.append(f"chosen: {report['chosen']} — {report['reason']}")
    return "\n".join(lines)
