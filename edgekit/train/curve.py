"""The training curve (loss per step, held-out losses) as a PNG."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.plots import pyplot, save_png


def plot_curve(log: Path, png: Path) -> None:
    """Training loss per step, with held-out losses where they were measured."""
    plt = pyplot()
    if plt is None:
        return

    rows = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    steps, losses = [r["step"] for r in rows], [r["loss"] for r in rows]
    ax.plot(steps, losses, label="train (per step)", lw=0.8, alpha=0.35, color="#4c72b0")
    smooth, ema = [], losses[0] if losses else 0.0
    for x in losses:  # exponential moving average: the trend under batch-to-batch noise
        ema = 0.9 * ema + 0.1 * x
        smooth.append(ema)
    ax.plot(steps, smooth, label="train (smoothed)", lw=2, color="#4c72b0")
    for key in ("eval_domain", "eval_general"):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=key.replace("_", " "))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title("Training loss")
    fig.tight_layout()
    save_png(fig, png)
