"""Answers on real PDF manuals: a bundle built as a new user would build it (two PDFs
nobody here wrote, default settings, the build's own choice of prompt style), asked
hand-written questions (bench/realdocs/questions.json) through `edgekit chat` and through
`edgekit serve`.

Prints, per split and path: right answers (an accepted short answer appears in the
reply; for a question the documents do not answer, an abstention), how many, the mean
reply length in words, and how many chat and serve replies were identical; plus the build
time, the QA eval stage's time, the size of the generated QA set, the style the build
chose and why, and the machine load at start and end.

    .venv/bin/python bench/realdocs.py [--bundle DIR] [--style extract|cite|quote] [--json]
    .venv/bin/python bench/realdocs.py --questions bench/realdocs/questions-zh.json

The Chinese set (questions-zh.json) asks 28 questions of man-db's Simplified Chinese man
pages (Debian's /usr/share/man/zh_CN), turned into markdown by bench/man_markdown.py.
The held-out set (questions-heldout.json, 30 questions, all test) asks two web manuals
printed to PDF by headless Chromium: the Debian Python Policy and zlib's usage example.

The build config: docs (the two PDFs), builtin:smollm2-135m, GGUF Q8_0 (not measured
against F16: that is not what this bench is about), no training, eval.qa defaults.
`--style` pins prompt.prompt_style (the build then keeps it). chat runs as a user runs
it (the bundle's temperature); serve is asked at --serve-temperature (default 0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import man_markdown  # noqa: E402
from serve_common import edgekit_server, free_port, machine_load, stop  # noqa: E402

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "bench" / "realdocs" / "questions.json"
CONFIG = """name: realdocs
version: 0.1.0
docs: docs
model:
  base: builtin:smollm2-135m
quantize:
  gguf: [Q8_0]
  measure: false
train:
  enabled: false
"""
STAGE_LINE = re.compile(r"✓\s+(?P<stage>[a-zA-Z0-9 _]+?)\s+done in (?P<s>[\d.]+)s")


def print_to_pdf(html: Path, pdf: Path) -> None:
    """``html`` printed to ``pdf`` by headless Chromium, as a user saves a web manual."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("this question set prints HTML to PDF: install chromium")
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
    )


def build(
    work: Path, docs: list[str], style: str | None, as_pdf: bool = False
) -> tuple[Path, dict]:
    """Build the bundle from the documents in WORK/project (HTML printed to PDF first
    with ``as_pdf``); (bundle, build facts)."""
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    (project / "docs").mkdir(parents=True)
    for doc in docs:
        if ".gz" in Path(doc).suffixes and "/man" in doc:  # a man page: as markdown
            man_markdown.convert(Path(doc), project / "docs")
        elif as_pdf and Path(doc).suffix == ".html":
            print_to_pdf(Path(doc), project / "docs" / Path(doc).with_suffix(".pdf").name)
        else:
            shutil.copy(doc, project / "docs")
    config = CONFIG + (f"prompt:\n  prompt_style: {style}\n" if style else "")
    (project / "edgekit.yaml").write_text(config)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "build", str(project / "edgekit.yaml")],
        capture_output=True,
        text=True,
    )
    seconds = round(time.perf_counter() - start, 1)
    (work / "build.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise SystemExit(f"build failed (log: {work / 'build.log'}):\n{proc.stderr[-3000:]}")
    facts: dict = {"build_seconds": seconds} | stage_facts(project)
    if "qa_eval_seconds" not in facts:  # the console line, when the log has none
        for m in STAGE_LINE.finditer(proc.stdout + proc.stderr):
            if m["stage"].strip() == "eval qa":
                facts["qa_eval_seconds"] = float(m["s"])
    return project / "dist" / "realdocs-0.1.0", facts


def stage_facts(project: Path) -> dict:
    """From the project's build log (one JSON line per stage and run; the last run's):
    the QA eval stage's seconds, the QA set's detail, the sum of the stages' seconds."""
    facts: dict = {}
    for path in project.glob(".edgekit/*/build-log.jsonl"):
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        last = [e for e in entries if entries and e.get("run") == entries[-1].get("run")]
        facts["stages_seconds"] = round(sum(e.get("seconds") or 0 for e in last), 1)
        for entry in last:
            if entry.get("stage") == "eval qa":
                facts["qa_eval_seconds"] = entry.get("seconds")
            if entry.get("stage") == "qa set":
                facts["qa_set"] = entry.get("detail")
    return facts


def choice(bundle: Path) -> dict:
    """What the bundle ships: the chosen answer settings and why, the QA set's size."""
    from edgekit.bundle.answer_settings import AnswerSettings

    manifest = json.loads((bundle / "manifest.json").read_text())
    chosen = AnswerSettings.from_manifest(manifest)
    config = AnswerSettings.from_manifest(manifest, chosen=False)
    qa = manifest.get("qa") or {}
    test = qa.get("test") or {}
    return {
        "style": chosen.prompt_style,
        "config_style": config.prompt_style,
        "temperature": chosen.temperature,
        "reason": qa.get("choice_reason"),
        "qa_items": qa.get("items"),
        "qa_test": test.get("chosen") or test.get("config"),
    }


def ask_chat(bundle: Path, question: str, temperature: float | None) -> tuple[str, list[str]]:
    """`edgekit chat BUNDLE QUESTION`: (the answer, the source lines)."""
    extra = [] if temperature is None else ["--temperature", str(temperature)]
    out = subprocess.run(
        [sys.executable, "-m", "edgekit", "chat", str(bundle), question, *extra],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    answer, _, sources = out.partition("\nSources:")
    return answer.strip(), [s.strip() for s in sources.splitlines() if s.strip()]


def ask_serve(port: int, question: str, temperature: float) -> str:
    import httpx

    body = {
        "model": "",
        "messages": [{"role": "user", "content": question}],
        "temperature": temperature,
    }
    got = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=600)
    got.raise_for_status()
    return got.json()["choices"][0]["message"]["content"].strip()


def right(reply: str, answers: list[str]) -> bool:
    """An accepted answer in the reply; for a question the documents do not answer, the
    reply abstains (the runtime's NOT_IN_EXCERPTS reply, or any abstention)."""
    from edgekit.qa.score import abstained, contains, normalize
    from edgekit.runtime.answer.support import NOT_IN_EXCERPTS

    if answers:
        return contains(reply, answers)
    return normalize(NOT_IN_EXCERPTS) in normalize(reply) or abstained(reply)


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for split in ("dev", "test", "all"):
        group = [r for r in rows if split in ("all", r["split"])]
        n = max(1, len(group))
        for path in ("chat", "serve"):
            answerable = [r for r in group if r["answers"]]
            out.append(
                {
                    "split": split,
                    "path": path,
                    "right": sum(r[f"{path}_right"] for r in group),
                    "n": len(group),
                    "right_answerable": sum(r[f"{path}_right"] for r in answerable),
                    "answerable": len(answerable),
                    "abstained_right": sum(r[f"{path}_right"] for r in group if not r["answers"]),
                    "unanswerable": len(group) - len(answerable),
                    "mean_words": round(sum(r[f"{path}_words"] for r in group) / n, 1),
                    "mean_short_words": round(sum(r[f"{path}_short"] for r in group) / n, 1),
                    "same": sum(r["chat"] == r["serve"] for r in group),
                }
            )
    return out


def timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    start = time.perf_counter()
    got = fn(*args)
    return got, round(time.perf_counter() - start, 1)


def mean(values: Iterable[float]) -> float:
    got = list(values)
    return round(sum(got) / max(1, len(got)), 1)


def table(summary: list[dict]) -> str:
    lines = [
        "| split | path | right | n | answerable right | abstentions right "
        "| mean words (short answer) | chat == serve |",
        "|---" * 8 + "|",
    ]
    for s in summary:
        lines.append(
            f"| {s['split']} | {s['path']} | {s['right']} ({s['right'] / max(1, s['n']):.2f})"
            f" | {s['n']} | {s['right_answerable']}/{s['answerable']} "
            f"| {s['abstained_right']}/{s['unanswerable']} "
            f"| {s['mean_words']} ({s['mean_short_words']}) | {s['same']}/{s['n']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--questions",
        type=Path,
        default=QUESTIONS,
        help="the question set and its documents (bench/realdocs/questions-zh.json: Chinese"
        " man pages of man-db, converted by bench/man_markdown.py)",
    )
    ap.add_argument("--bundle", type=Path, help="reuse a built bundle (skips the build)")
    ap.add_argument("--style", choices=["extract", "cite", "quote"], help="pin prompt_style")
    ap.add_argument("--work", type=Path, help="work folder (default: a new temp folder)")
    ap.add_argument(
        "--chat-temperature",
        type=float,
        default=None,
        help="pass --temperature to edgekit chat (default: the bundle's own)",
    )
    ap.add_argument("--serve-temperature", type=float, default=0.0)
    ap.add_argument("--limit", type=int, help="ask only the first N questions (a quick check)")
    ap.add_argument("--json", action="store_true", help="one JSON object as the last line")
    args = ap.parse_args()
    spec = json.loads(args.questions.read_text())
    load_start = machine_load()
    print(load_start)
    work = args.work or Path(tempfile.mkdtemp(prefix="edgekit-realdocs-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}")
    facts: dict = {}
    bundle = args.bundle
    if bundle is None:
        if args.style:
            print(f"prompt_style pinned: {args.style}")
        bundle, facts = build(work, spec["documents"], args.style, spec.get("print_to_pdf", False))
    else:  # a bundle built by this bench: its project's build log is two folders up
        facts = stage_facts(bundle.resolve().parents[1])
    facts |= choice(bundle)
    rows: list[dict] = []
    replies = work / "replies.json"
    port = free_port()
    server = edgekit_server(bundle, port, work / "serve.log")
    start = time.perf_counter()
    try:
        from edgekit.qa.score import answer_words

        for q in spec["questions"][: args.limit]:
            row = {k: q[k] for k in ("split", "source", "page", "question", "answers")}
            # chat and serve answer the same question at the same time (a 2-core machine
            # shared with other jobs: each call's seconds include the other's load)
            with ThreadPoolExecutor(2) as pool:
                chat = pool.submit(timed, ask_chat, bundle, q["question"], args.chat_temperature)
                serve = pool.submit(timed, ask_serve, port, q["question"], args.serve_temperature)
                (row["chat"], row["chat_sources"]), row["chat_seconds"] = chat.result()
                row["serve"], row["serve_seconds"] = serve.result()
            for path in ("chat", "serve"):
                row[f"{path}_right"] = right(row[path], q["answers"])
                row[f"{path}_words"] = len(row[path].split())
                row[f"{path}_short"] = answer_words(row[path])
            rows.append(row)
            replies.write_text(json.dumps(rows, indent=1, ensure_ascii=False))  # so far
    finally:
        stop(server)
    facts["ask_seconds"] = round(time.perf_counter() - start, 1)
    summary = summarize(rows)
    print(f"bundle {bundle}")
    print(
        f"build {facts.get('build_seconds', '(reused)')} s (stages "
        f"{facts.get('stages_seconds')} s), QA eval stage "
        f"{facts.get('qa_eval_seconds')} s, QA set: {facts.get('qa_set') or facts.get('qa_items')}"
    )
    print(
        f"style {facts.get('style')} (config {facts.get('config_style')}), temperature "
        f"{facts.get('temperature')}; why: {facts.get('reason')}"
    )
    print(
        f"{len(rows)} questions asked twice in {facts['ask_seconds']} s (mean chat "
        f"{mean(r['chat_seconds'] for r in rows)} s, serve "
        f"{mean(r['serve_seconds'] for r in rows)} s); replies: {replies}"
    )
    if qa_test := facts.get("qa_test"):
        print(
            "the build's own QA eval (generated questions, test split, shipped settings): "
            + ", ".join(
                f"{k} {qa_test.get(k)}"
                for k in ("answer_accuracy", "abstention_rate", "retrieval_hit", "answer_words")
            )
        )
    print(table(summary))
    load_end = machine_load()
    print(load_end)
    if args.json:
        print(
            json.dumps(
                {
                    "build": facts,
                    "summary": summary,
                    "rows": rows,
                    "load_start": load_start,
                    "load_end": load_end,
                },
                ensure_ascii=False,
            )
        )


if __name__ == "__main__":
    main()
