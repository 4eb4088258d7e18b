"""QA eval of a finished bundle: choose settings on dev, report on test, store the result.

Why on the finished bundle (like the behaviour eval): answers must come from the site
runtime as shipped (verified manifest, the GGUF `chat` loads, the KB copy, the rules). The
build stores the result with edgekit.bundle.amend: eval/qa.jsonl, report/qa.json (+ .png),
the manifest's K_QA summary and the chosen settings under runtime.answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.amend import amend_bundle
from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.bundle.meta import Manifest, qa_amendment
from edgekit.plots import png_bytes, pyplot
from edgekit.qa.choose import EXTENDED, SEARCH, choose_settings
from edgekit.qa.prior import model_params
from edgekit.qa.run import QASession

Progress = Callable[[int, int, str], None]  # (done, total, what)
CHART = (
    ("answer_accuracy", "answer right"),
    ("token_f1", "token F1 (short answer)"),
    ("citation_accuracy", "answer's excerpt cited"),
    ("retrieval_hit", "retrieval hit@k"),
    ("abstention_rate", "abstains when unanswerable"),
    ("degenerate_rate", "degenerate outputs"),
)


def split_of(items: Sequence[Any], split: str) -> list[Any]:
    return [i for i in items if split == "all" or i.split == split]


def evaluate_bundle(
    bundle: Path,
    items: Sequence[Any],
    *,
    choose: bool = True,
    choose_items: int | None = None,
    full_search: bool = False,
    pinned: Sequence[str] = (),
    style: str | None = None,
    max_tokens: int | None = None,
    qtype: str | None = None,
    progress: Progress | None = None,
    compare_config: bool = False,
) -> dict[str, Any]:
    """Choose settings on the dev split (when ``choose``) from the config's settings, then
    answer the test split with the chosen ones (and the config's too with
    ``compare_config``, when they differ). ``style``: a prompt style chosen before (by the
    tuning gate), kept. ``max_tokens`` caps answer length during the eval."""

    start = time.perf_counter()
    session = QASession.open(bundle, qtype=qtype)
    config = AnswerSettings.from_manifest(session.site.manifest, chosen=False)
    cap = {"max_tokens": min(max_tokens, config.max_tokens)} if max_tokens else {}
    base = config.with_values(**cap)
    dev, test = split_of(items, "dev"), split_of(items, "test")
    result: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": session.site.model_path(qtype).name,
        "items": {"dev": len(dev), "test": len(test)},
        "model_params": model_params(session.llm),
        "max_tokens": base.max_tokens,
        "config_settings": config.tunable(),
    }
    chosen = base
    if choose and dev:
        search = SEARCH + EXTENDED if full_search else SEARCH
        subset = dev[:choose_items] if choose_items else dev
        first = base.with_values(prompt_style=style)
        kept = [*pinned, "prompt_style"] if style else list(pinned)
        choice = choose_settings(
            session,
            subset,
            first,
            kept,
            search,
            progress=progress,
            fusion_dev=dev,
            n_params=result["model_params"],
        )
        if style and "prompt_style" not in pinned:
            choice.reasons[0] = (
                f"prompt_style {style}: chosen with the tuned model before the tuning gate, "
                "which compared base and tuned in it (report/gate.json)"
            )
        chosen = choice.settings
        result["choice"] = choice.to_json()

    def step(label: str) -> Callable[[int, int], None] | None:
        return (lambda i, n: progress(i, n, label)) if progress else None

    result["test"] = {}
    records: list[dict[str, Any]] = []
    if test and (chosen == base or compare_config):
        by_config = session.evaluate(test, base, step("test, config settings"))
        result["test"]["config"] = by_config["metrics"]
        records = by_config["records"]
    if test and chosen != base:
        by_chosen = session.evaluate(test, chosen, step("test, chosen settings"))
        result["test"]["chosen"] = by_chosen["metrics"]
        records = by_chosen["records"]
    result["chosen_settings"] = chosen.stored()
    result["records"] = records
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The test metrics of the settings the bundle ships with."""
    test = result["test"]
    return test.get("chosen") or test.get("config") or {}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the manifest keeps (K_QA): everything but the per-item records and trials."""
    out = {k: v for k, v in result.items() if k not in ("records", "choice")}
    if "choice" in result:
        out["dev_utility"] = result["choice"]["dev_utility"]
        out["pinned"] = result["choice"]["pinned"]
        out["choice_reason"] = result["choice"].get("reason")
    return out


def chart_png(result: dict[str, Any]) -> bytes | None:
    """Test-split bars, config settings vs chosen; None without matplotlib (a site)."""
    plt = pyplot()
    if plt is None:
        return None

    series = [(name, m) for name, m in result["test"].items() if m]
    if not series:
        return None
    labels = [label for _, label in CHART]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(labels) + 1.4))
    height = 0.8 / max(1, len(series))
    for n, (name, metrics) in enumerate(series):
        values = [metrics.get(key) or 0.0 for key, _ in CHART]
        ys = [i + n * height for i in range(len(labels))]
        ax.barh(ys, values, height=height, label=f"{name} settings")
    ax.set_yticks([i + height * (len(series) - 1) / 2 for i in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title(f"QA test split: {result['items']['test']} questions ({result['model']})")
    fig.tight_layout()
    return png_bytes(fig)


def save_qa(
    bundle: Path, result: dict[str, Any], items: Sequence[Any], tar: bool | None = None
) -> Any:
    """Store the set, the result, the chart and the chosen settings in the bundle."""

    manifest = Manifest.read(bundle)
    lines = "".join(json.dumps(i.to_json(), ensure_ascii=False) + "\n" for i in items)
    files = {
        mf.EVAL_QA_FILE: lines.encode(),
        mf.REPORT_QA: (json.dumps(result, indent=2, ensure_ascii=False) + "\n").encode(),
    }
    png = chart_png(result)
    if png is not None:
        files[mf.REPORT_QA_PNG] = png
    meta = qa_amendment(manifest, summary(result), result["chosen_settings"])
    return amend_bundle(bundle, files, meta, note="QA eval", tar=tar)
