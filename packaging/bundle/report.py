"""report/index.html: one page on what the bundle is and what was lost at each step.

Rendered from the manifest and the files under report/ (read through a callback, so the
same code renders while the writer is staging a bundle and when a finished one is
amended). Self-contained: inline CSS, no script, images are the PNGs beside it in report/.
Sections: overview, data card, training curves, forgetting, quantization, behaviour,
retrieval; each says "not measured" (and how to measure it) when its data is absent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from html import escape
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.bundle.report_qa import answers_section

Reader = Callable[[str], bytes | None]  # bundle path -> content, None when absent

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1.5em;
color:#1d2330;background:#fff}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #d8dee9;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #d8dee9;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f2f4f8}td.n{text-align:right;
font-variant-numeric:tabular-nums}img{max-width:100%;border:1px solid #d8dee9;margin:.5em 0}
.muted{color:#667}.na{color:#8a5a00;background:#fff7e0;padding:.4em .7em;display:inline-block}
.ok{color:#176b2c;font-weight:600}.bad{color:#a11;font-weight:600}
code{background:#f2f4f8;padding:0 .25em}nav a{margin-right:1em}
"""
SECTIONS = (
    ("data", "Data card"),
    ("training", "Training curves"),
    ("forgetting", "Forgetting"),
    ("quant", "Quantization"),
    ("answers", "Answers (QA)"),
    ("behaviour", "Behaviour"),
    ("retrieval", "Retrieval"),
)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, (dict, list)):
        return escape(json.dumps(v))
    return escape(str(v))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_fmt(c)}</td>'
            if isinstance(c, (int, float))
            else f"<td>{_fmt(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _na(text: str) -> str:
    return f'<p class="na">{escape(text)}</p>'


def _img(read: Reader, name: str, alt: str) -> str:
    """An <img> of report/NAME when the bundle has it (src relative to index.html)."""
    if read(f"{mf.REPORT_DIR}/{name}") is None:
        return ""
    return f'<img src="{escape(name)}" alt="{escape(alt)}">'


def _json(read: Reader, rel: str) -> Any:
    data = read(rel)
    try:
        return json.loads(data) if data is not None else None
    except ValueError:
        return None


def _overview(m: dict[str, Any]) -> str:
    base = m.get(mf.K_BASE_MODEL) or {}
    adapter = m.get(mf.K_ADAPTER) or {}
    rows = [
        ["created", m.get(mf.K_CREATED)],
        ["edgekit", m.get(mf.K_EDGEKIT_VERSION)],
        ["base model", base.get(mf.K_ID)],
        ["adapter", adapter.get(mf.K_ID)],
        ["training", ((m.get(mf.K_TRAINING) or {}).get(mf.K_METHOD)) or "none"],
    ]
    models = [
        [e.get(mf.K_PATH), e.get(mf.K_QTYPE), e.get(mf.K_SIZE, 0) / 2**20]
        + [
            e.get(mf.K_BITS_PER_WEIGHT),
            "yes" if e.get(mf.K_PATH) == m.get(mf.K_DEFAULT_MODEL) else "",
        ]
        for e in m.get(mf.K_MODELS) or []
    ]
    html = "<table>" + "".join(
        f"<tr><th>{escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in rows if v is not None
    )
    html += "</table>"
    html += _table(["model", "type", "size (MiB)", "bits/weight", "default"], models)
    amended = m.get(mf.K_AMENDED) or []
    if amended:
        html += (
            "<p class='muted'>Changed after the build: "
            + "; ".join(f"{_fmt(a.get('time'))} {_fmt(a.get('note'))}" for a in amended)
            + "</p>"
        )
    return html


def _data(m: dict[str, Any], read: Reader) -> str:
    card = (m.get(mf.K_TRAINING) or {}).get(mf.K_DATA_CARD)
    sets = m.get(mf.K_EVAL_SETS) or []
    html = ""
    if card:
        counts = [
            [k, card.get(k)]
            for k in ("train_domain", "train_replay", "eval_domain", "eval_general", "multi_turn")
        ]
        counts += [
            ["dedupe rate", card.get("dedupe_rate")],
            ["cut at a sentence", card.get("cut_at_sentence")],
        ]
        html += _table(["training data", "count"], counts)
        html += _table(
            ["rule", "examples"], [[k, v] for k, v in (card.get("per_rule") or {}).items()]
        )
        if card.get("dropped"):
            html += _table(
                ["dropped because", "examples"], [[k, v] for k, v in card["dropped"].items()]
            )
        html += _img(read, "data-card.png", "answer lengths and examples per rule")
    else:
        html += _na("No training data: the base model ships as it is.")
    if sets:
        rows = [
            [s.get(mf.K_NAME), s.get(mf.K_PATH), s.get(mf.K_ITEMS), s.get(mf.K_SOURCE)]
            for s in sets
        ]
        html += "<h3>Evaluation sets in this bundle</h3>" + _table(
            ["set", "file", "items", "source"], rows
        )
    return html


def _training(read: Reader) -> str:
    img = _img(read, "loss.png", "training loss")
    return img or _na("Not trained: no training curves.")


def _forgetting(m: dict[str, Any]) -> str:
    table = (m.get(mf.K_TRAINING) or {}).get(mf.K_FORGETTING)
    if not table:
        return _na("Not measured: forgetting is measured when the build trains the model.")
    rows = [
        [s, r.get("base_ppl"), r.get("tuned_ppl"), r.get("ratio"), r.get("tokens")]
        for s, r in table.items()
        if isinstance(r, dict)
    ]
    html = _table(["held-out split", "base PPL", "tuned PPL", "ratio", "tokens"], rows)
    if "kl_base_tuned_general" in table:
        html += (
            f"<p>Mean KL(base‖tuned) on general prompts: {_fmt(table['kl_base_tuned_general'])}</p>"
        )
    return html


QUANT_COLUMNS = (  # (row key, heading); tokens_per_s only when measured
    ("type", "type"),
    ("size", "size (MiB)"),
    ("bits_per_weight", "bits/weight"),
    ("ppl", "PPL"),
    ("dppl_pct", "ΔPPL %"),
    ("kld", "KLD"),
    ("top1", "same top token"),
    ("tokens_per_s", "tokens/s"),
    ("within_budget", "within budget"),
)


def _quant(read: Reader) -> str:
    q = _json(read, mf.REPORT_QUANT)
    if not q:
        return _na("Not measured: no quantization quality table in this bundle.")
    rows = q.get("rows") or []
    cols = [(k, h) for k, h in QUANT_COLUMNS if any(k in r for r in rows)]
    cells = [[(r.get(k) or 0) / 2**20 if k == "size" else r.get(k) for k, _ in cols] for r in rows]
    budget = q.get("budget") or {}
    if {"max_kld", "max_ppl_increase"} <= set(budget):
        limits = f"KLD ≤ {_fmt(budget['max_kld'])}, ΔPPL ≤ {_fmt(budget['max_ppl_increase'])} %"
    else:
        limits = _fmt(budget or None)
    html = f"<p>Against the {_fmt(q.get('reference'))} GGUF; budget: {limits}.</p>"
    html += _table([h for _, h in cols], cells)
    html += f"<p>Chosen: <b>{_fmt(q.get('chosen'))}</b> — {_fmt(q.get('reason'))}</p>"
    return html + _img(read, "quant.png", "size against quality per quantization type")


def _behaviour(m: dict[str, Any], read: Reader) -> str:
    b = m.get(mf.K_BEHAVIOUR)
    if not b:
        return _na(
            "Not measured: run `edgekit eval behaviour BUNDLE` (or set "
            "eval.behaviour.enabled in edgekit.yaml)."
        )
    s = b.get("settings") or {}
    html = (
        f"<p>{_fmt(b.get('items'))} held-out questions on {_fmt(b.get('model'))}, knowledge base "
        f"{'on' if b.get('kb') else 'absent'}, temperature {_fmt(s.get('temperature'))}, seeds "
        f"{_fmt(s.get('seeds'))}, up to {_fmt(s.get('max_tokens'))} tokens an answer; "
        f"{_fmt(b.get('generations'))} answers in {_fmt(b.get('seconds'))} s.</p>"
    )
    rows = ""
    for group, values in (b.get("metrics") or {}).items():
        span = f'rowspan="{len(values)}"'
        for i, (name, value) in enumerate(values.items()):
            first = f"<td {span}>{escape(group)}</td>" if i == 0 else ""
            what = mf.BEHAVIOUR_GROUPS.get(group, "")
            about = f"<td {span}>{escape(what)}</td>" if i == 0 else ""
            rows += (
                f'<tr>{first}<td>{escape(name)}</td><td class="n">{_fmt(value)}</td>{about}</tr>'
            )
    head = "".join(f"<th>{h}</th>" for h in ("group", "metric", "value", "what it measures"))
    html += f"<table><tr>{head}</tr>{rows}</table>"
    html += _img(read, "behaviour.png", "behaviour scores")
    full = _json(read, mf.REPORT_BEHAVIOUR) or {}
    samples = [
        [
            r.get("question"),
            (r.get("reference") or "")[:300],
            (r.get("answer") or "")[:300],
            (r.get("scores") or {}).get("token_f1"),
        ]
        for r in (full.get("records") or [])[:5]
    ]
    if samples:
        html += "<h3>Sample answers</h3>" + _table(
            ["question", "reference", "answer", "F1"], samples
        )
    return html


def _retrieval(m: dict[str, Any]) -> str:
    kb = m.get(mf.K_KB)
    if not kb:
        return _na("No knowledge base in this bundle.")
    answer = AnswerSettings.from_manifest(m)
    rows = [
        ["documents", kb.get(mf.K_DOCUMENTS)],
        ["chunks", kb.get(mf.K_CHUNKS)],
        ["chunks per question (top k)", answer.top_k],
        ["context budget (tokens)", answer.context_tokens],
        [
            "fusion",
            f"{answer.fusion}: BM25 {answer.bm25_weight}, vector {answer.vector_weight}",
        ],
        ["embedder fingerprint", kb.get(mf.K_EMBEDDER_FINGERPRINT)],
    ]
    return _table(["knowledge base", ""], rows)


def render_report(manifest: dict[str, Any], read: Reader) -> str:
    """The whole page as a string."""
    title = f"{manifest.get(mf.K_NAME)} {manifest.get(mf.K_VERSION)}"
    bodies = {
        "data": _data(manifest, read),
        "training": _training(read),
        "forgetting": _forgetting(manifest),
        "quant": _quant(read),
        "answers": answers_section(
            manifest, lambda n, alt: _img(read, n, alt), lambda rel: _json(read, rel)
        ),
        "behaviour": _behaviour(manifest, read),
        "retrieval": _retrieval(manifest),
    }
    nav = "".join(f'<a href="#{k}">{escape(t)}</a>' for k, t in SECTIONS)
    sections = "".join(
        f'<section id="{k}"><h2>{escape(t)}</h2>{bodies[k]}</section>' for k, t in SECTIONS
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} — edgekit report</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class='muted'>edgekit bundle report</p><nav>{nav}</nav>"
        f'<section id="overview">{_overview(manifest)}</section>{sections}</body></html>\n'
    )
