"""report/quant.png: size against quality (KLD and ΔPPL) per quantization type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.plots import pyplot, save_png


def plot_quant(report: dict[str, Any], path: Path) -> Path:
    """Two panels sharing the size axis: mean KLD (log scale) and ΔPPL %, the budget as a
    dashed line, the chosen type circled."""
    plt = pyplot()
    if plt is None:
        raise EdgekitError("the quantization chart needs matplotlib (the `build` extra)")

    rows = report["rows"]
    budget = report["budget"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    panels = (
        ("kld", "mean KL divergence to F16 (nats/token)", budget["max_kld"]),
        ("dppl_pct", "perplexity increase over F16 (%)", budget["max_ppl_increase"]),
    )
    for ax, (key, label, limit) in zip(axes, panels):
        for r in rows:
            x = r["size"] / 2**20
            y = max(r[key], 1e-6) if key == "kld" else r[key]
            color = "tab:green" if r["within_budget"] else "tab:red"
            marker = "s" if r.get("format") else "o"
            ax.scatter([x], [y], color=color, marker=marker, zorder=3)
            ax.annotate(r["type"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
            if r["type"] == report.get("chosen"):
                ax.scatter([x], [y], s=220, facecolors="none", edgecolors="black", zorder=4)
        ax.axhline(limit, linestyle="--", color="gray", linewidth=1, label="budget")
        if key == "kld":
            ax.set_yscale("log")
        ax.set_xlabel("size (MiB)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    chosen = report.get("chosen") or "none"
    fig.suptitle(f"Quantization: size vs quality (green: within budget; chosen: {chosen})")
    fig.tight_layout()
    return save_png(fig, path, dpi=100)
