"""The report's "Answers" section: QA eval on the test split (config vs chosen settings),
the settings chosen on the dev split, the tuning gate (base vs tuned) and sample answers."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from edgekit.bundle import manifest as mf

METRICS = (
    ("answer_accuracy", "answer right"),
    ("token_f1", "token F1 (short answer)"),
    ("answer_words", "answer length (words)"),
    ("citation_accuracy", "excerpt holding the answer cited"),
    ("inline_citation_accuracy", "… cited inline as [n]"),
    ("retrieval_hit", "retrieval hit@k"),
    ("abstention_rate", "abstains when unanswerable"),
    ("false_abstention_rate", "abstains when answerable"),
    ("degenerate_rate", "degenerate outputs"),
    ("seconds_per_answer", "seconds per answer"),
)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if isinstance(v, float) else escape(str(v))


def metrics_table(columns: dict[str, dict[str, Any]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in ["metric", *columns])
    rows = "".join(
        f"<tr><td>{escape(label)}</td>"
        + "".join(f'<td class="n">{_fmt(m.get(key))}</td>' for m in columns.values())
        + "</tr>"
        for key, label in METRICS
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def answers_section(
    m: dict[str, Any],
    img: Callable[[str, str], str],
    read_json: Callable[[str], Any],
) -> str:
    qa = m.get(mf.K_QA)
    gate = (m.get(mf.K_TRAINING) or {}).get(mf.K_GATE)
    if not qa and not gate:
        return (
            '<p class="na">Not measured: run `edgekit eval qa BUNDLE` (needs docs and '
            "eval.qa.enabled).</p>"
        )
    html = ""
    if qa:
        items = qa.get("items") or {}
        html += (
            f"<p>{_fmt(items.get('test'))} test questions ({_fmt(items.get('dev'))} more in the "
            f"dev split the settings were chosen on), {_fmt(qa.get('model'))}, up to "
            f"{_fmt(qa.get('max_tokens'))} tokens an answer.</p>"
        )
        test = qa.get("test") or {}
        html += metrics_table({f"{k} settings": v for k, v in test.items() if v})
        html += img("qa.png", "QA test split, config vs chosen settings")
        chosen, config = qa.get("chosen_settings") or {}, qa.get("config_settings") or {}
        changed = [k for k in chosen if chosen.get(k) != config.get(k)]
        pinned = qa.get("pinned") or []
        html += "<p>Chosen on the dev split: " + (
            ", ".join(
                f"{escape(k)} {_fmt(config.get(k))} → <b>{_fmt(chosen[k])}</b>" for k in changed
            )
            or "the config's settings were best"
        )
        html += f"; kept as set in the config: {escape(', '.join(pinned))}" if pinned else ""
        html += ".</p>"
        if qa.get("choice_reason"):
            html += f"<p>Why: {_fmt(qa.get('choice_reason'))}</p>"
    if gate:
        html += "<h3>Tuning gate (QA dev split)</h3>" + metrics_table(
            {"base": gate.get("base") or {}, "tuned": gate.get("tuned") or {}}
        )
        html += f"<p>Shipped: <b>{_fmt(gate.get('shipped'))}</b> — {_fmt(gate.get('reason'))}</p>"
        if gate.get("style"):
            html += f"<p>Compared in the {_fmt(gate.get('style'))} style (the one shipped).</p>"
    full = read_json(mf.REPORT_QA) or {}
    samples = [
        [r.get("question"), "; ".join(r.get("answers") or []) or "(unanswerable)", r.get("answer")]
        for r in (full.get("records") or [])[:8]
    ]
    if samples:
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(str(c or ''))[:300]}</td>" for c in s) + "</tr>"
            for s in samples
        )
        html += (
            "<h3>Sample answers</h3><table><tr><th>question</th><th>reference</th>"
            f"<th>answer</th></tr>{rows}</table>"
        )
    return html
