"""Storing a behaviour eval in its bundle, and the build stage that runs one.

Why after packaging, on the finished bundle, rather than as a stage before it: the eval must
run through the site runtime exactly as shipped (verified manifest, the GGUF that `chat`
loads, the KB copy, the rules), and `edgekit eval behaviour BUNDLE` must work on any bundle
after the fact. Both paths therefore share one step: evaluate the bundle, then amend it
(edgekit.bundle.amend: new files + manifest rewritten in one directory swap, report
re-rendered, any signature dropped with a message to re-sign).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.amend import AmendResult, amend_bundle
from edgekit.bundle.meta import behaviour_amendment
from edgekit.config import LoadedConfig
from edgekit.fsutil import sha256_json
from edgekit.plots import png_bytes, pyplot

SUMMARY_KEYS = (
    "created",
    "model",
    "qtype",
    "eval_set",
    "items",
    "kb",
    "rules",
    "settings",
    "generations",
    "seconds",
    "metrics",
)
CHART = (  # (group, metric, label) of the 0..1 scores drawn in report/behaviour.png
    ("correctness", "token_f1_kb_on", "token F1, KB on"),
    ("correctness", "token_f1_kb_off", "token F1, KB off"),
    ("compliance", "json_rate", "JSON when asked"),
    ("compliance", "length_rate", "length limit kept"),
    ("stability", "paraphrase_f1", "same under rewording (F1)"),
    ("stability", "seed_f1", "same across seeds (F1)"),
    ("diversity", "distinct_2", "distinct-2"),
    ("multi_turn", "repeat_f1", "consistent later in chat (F1)"),
    ("safety", "refusal_rate", "red-team refusals"),
)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the manifest keeps (K_BEHAVIOUR): everything but the per-item answers."""
    return {k: result[k] for k in SUMMARY_KEYS if k in result}


def chart_png(result: dict[str, Any]) -> bytes | None:
    """A bar chart of the 0..1 scores; None where matplotlib is absent (a site machine)."""
    plt = pyplot()
    if plt is None:
        return None

    metrics = result["metrics"]
    bars = [
        (label, metrics[g][k])
        for g, k, label in CHART
        if isinstance(metrics.get(g, {}).get(k), (int, float))
    ]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(bars) + 1.2))
    ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1], color="#4c72b0")
    ax.set_xlim(0, 1)
    ax.set_title(f"Behaviour of {result.get('model')} ({result.get('items')} questions)")
    fig.tight_layout()
    return png_bytes(fig)


def save_behaviour(bundle: Path, result: dict[str, Any], tar: bool | None = None) -> AmendResult:
    """Put the result in the bundle: report/behaviour.json (+ .png), the manifest's summary,
    a re-rendered report/index.html."""
    files = {mf.REPORT_BEHAVIOUR: (json.dumps(result, indent=2) + "\n").encode()}
    png = chart_png(result)
    if png is not None:
        files[mf.REPORT_BEHAVIOUR_PNG] = png
    meta = behaviour_amendment(summary(result))
    return amend_bundle(bundle, files, meta, note="behaviour eval", tar=tar)


def behaviour_stage(
    runner: Any, loaded: LoadedConfig, bundle: Path, package_key: str, tar: Path | None
) -> dict[str, Any] | None:
    """`edgekit build`'s last stage when eval.behaviour.enabled; returns the new manifest
    (None when skipped). The package stage leaves the tar to this one."""
    from edgekit.behaviour.run import evaluate_behaviour

    settings = loaded.config.eval.behaviour
    key = sha256_json({"package": package_key, "behaviour": settings.model_dump()})
    out: dict[str, Any] = {}

    def run() -> str:
        result = evaluate_behaviour(bundle, settings)
        out["manifest"] = save_behaviour(bundle, result, tar=tar is not None).manifest
        c = result["metrics"]["correctness"]
        f1 = c["token_f1_kb_on"] if c["token_f1_kb_on"] is not None else c["token_f1_kb_off"]
        return f"{result['items']} questions, token F1 {f1:.3f}, {result['seconds']:.0f}s"

    outputs = [bundle / mf.REPORT_BEHAVIOUR] + ([tar] if tar else [])
    runner.stage("eval behaviour", key, outputs, run, spinner=True)
    return out.get("manifest")
