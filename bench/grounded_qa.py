"""Grounded answers: answer accuracy with citations, the way a site would measure it.

1. SQuAD: N articles of ../shared/eval/squad-dev-subset.json become a bundle's documents;
   M of their questions are the test split, others the dev split the build chooses its
   answer settings on. The test questions go through `edgekit serve` with the openai
   client, to two servers at once, interleaved: the config's settings
   (`--config-settings`) and the settings the build chose.
2. The mine-safety example: its generated QA test split asked in-process through the same
   answer path, the base model's bundle vs the tuned one (train.enabled), both with their
   chosen settings.

    .venv/bin/python bench/grounded_qa.py [--articles 4] [--questions 100] [--dev 40]
                                          [--skip-mine | --skip-squad] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_common import edgekit_server, free_port, machine_load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "eval" / "squad-dev-subset.json"
CONFIG = """name: {name}
docs: docs
model:
  base: builtin:smollm2-135m
quantize:
  gguf: [Q8_0]
  measure: false
eval:
  qa:
    choose_items: {choose}
"""


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def squad_project(work: Path, articles: int, questions: int, dev: int) -> Path:
    """docs/<article>.md + eval/qa.jsonl (test: the first M shuffled questions)."""
    data = json.loads(SQUAD.read_text())["data"][:articles]
    project = work / "squad"
    shutil.rmtree(project / "docs", ignore_errors=True)
    (project / "docs").mkdir(parents=True)
    (project / "eval").mkdir(exist_ok=True)
    qas = []
    for article in data:
        title = article["title"].replace("_", " ")
        name = slug(title) + ".md"
        paras = [p["context"].strip() for p in article["paragraphs"]]
        (project / "docs" / name).write_text(f"# {title}\n\n" + "\n\n".join(paras) + "\n")
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                answers = sorted({a["text"] for a in qa["answers"]})
                qas.append({"question": qa["question"], "answers": answers, "source": name})
    random.Random(0).shuffle(qas)
    if len(qas) < questions + dev:
        raise SystemExit(f"only {len(qas)} questions in {articles} articles")
    # the project's QA set is the dev split only (the build chooses its settings there);
    # the test questions stay out of the bundle and are asked through serve below
    test = [q | {"split": "test"} for q in qas[:questions]]
    rows = [q | {"split": "dev"} for q in qas[questions : questions + dev]]
    (project / "eval" / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (work / "squad-test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    (project / "edgekit.yaml").write_text(CONFIG.format(name="squad-grounded", choose=dev))
    return project


def build(config: Path) -> Path:
    """`edgekit build CONFIG`; returns the bundle folder."""
    subprocess.run([sys.executable, "-m", "edgekit", "build", str(config)], check=True)
    import yaml

    cfg = yaml.safe_load(config.read_text())
    return config.parent / "dist" / f"{cfg['name']}-{cfg.get('version', '0.1.0')}"


def ask_servers(
    bundle: Path, test_file: Path, max_tokens: int, work: Path, baseline: int
) -> dict[str, dict]:
    """Every test question to the chosen-settings server and the first ``baseline`` ones to
    the config-settings server too, interleaved; scores per server (and the chosen server
    on the same ``baseline`` questions, for a like-for-like ratio)."""
    from openai import OpenAI

    from edgekit.qa.evalset import read_qa_file
    from edgekit.qa.score import score_answer, summarize

    items = read_qa_file(test_file)
    servers, clients = {}, {}
    for name, args in (("config", ["--config-settings"]), ("chosen", [])):
        port = free_port()
        servers[name] = edgekit_server(
            bundle,
            port,
            work / f"serve-{name}.log",
            "--slots",
            "1",
            "--audit-log",  # one writer per audit log: each server its own
            str(work / f"serve-{name}.audit.jsonl"),
            *args,
        )
        clients[name] = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
    out: dict[str, dict] = {name: {"scores": [], "seconds": []} for name in servers}
    try:
        for name in servers:  # warm-up
            clients[name].chat.completions.create(
                model="", messages=[{"role": "user", "content": "Hello"}], max_tokens=4
            )
        for n, item in enumerate(items):
            order = list(servers) if n % 2 == 0 else list(servers)[::-1]
            for name in order:
                if name == "config" and n >= baseline:
                    continue
                t0 = time.perf_counter()
                r = clients[name].chat.completions.create(
                    model="",
                    messages=[{"role": "user", "content": item.question}],
                    max_tokens=max_tokens,
                )
                text = r.choices[0].message.content or ""
                cites = (r.model_extra or {}).get("citations") or []
                out[name]["seconds"].append(time.perf_counter() - t0)
                out[name]["scores"].append(score_answer(item, text, cites))
            print(f"\r  {n + 1}/{len(items)} questions", end="", file=sys.stderr)
        print(file=sys.stderr)
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    result = {name: summarize(r["scores"], r["seconds"]) for name, r in out.items()}
    chosen = out["chosen"]
    result["chosen, same questions"] = summarize(
        chosen["scores"][:baseline], chosen["seconds"][:baseline]
    )
    return result


def mine_safety(work: Path) -> dict[str, dict]:
    """The example's QA test split: base bundle vs tuned bundle (same QA set), each with
    its chosen settings, then each with the `cite` style (the model writes the answer)."""
    from edgekit.bundle import manifest as mf
    from edgekit.qa.evalset import load_qa_jsonl
    from edgekit.qa.run import QASession

    results = {}
    for name, trained in (("base", False), ("tuned", True)):
        project = work / f"mine-{name}"
        if not project.exists():
            shutil.copytree(ROOT / "examples" / "mine-safety", project, ignore=_ignore)
        cfg = (ROOT / "examples" / "mine-safety" / "edgekit.yaml").read_text()
        cfg = cfg.replace("name: mine-safety", f"name: mine-{name}")
        if not trained:
            cfg = cfg.replace("  enabled: true", "  enabled: false")
        (project / "edgekit.yaml").write_text(cfg)
        bundle = build(project / "edgekit.yaml")
        items = [i for i in load_qa_jsonl(bundle / mf.EVAL_QA_FILE) if i.split == "test"]
        session = QASession.open(bundle)
        results[name] = session.evaluate(items)["metrics"]
        results[name]["chosen"] = session.settings.tunable()
        # the same model in a style that calls it: does the tuning change its answers?
        cite = session.settings.with_values(prompt_style="cite")
        results[f"{name}, cite"] = session.evaluate(items, cite)["metrics"]
    return results


def _ignore(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in (".edgekit", "dist")]


def table(columns: dict[str, dict], title: str, ratio: tuple[str, str]) -> str:
    keys = (
        "answer_accuracy",
        "token_f1",
        "reply_f1",
        "answer_words",
        "citation_accuracy",
        "retrieval_hit",
        "abstention_rate",
        "degenerate_rate",
        "seconds_per_answer",
    )
    head = f"| {title} | " + " | ".join(columns) + f" | {ratio[1]} / {ratio[0]} |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for k in keys:
        vals = [columns[c].get(k) for c in columns]
        a, b = columns[ratio[0]].get(k), columns[ratio[1]].get(k)
        r = f"{b / a:.2f}" if isinstance(a, float) and isinstance(b, float) and a else "—"
        cells = ["—" if v is None else f"{v:.3f}" for v in vals]
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {r} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=4)
    ap.add_argument("--questions", type=int, default=100, help="test questions (SQuAD)")
    ap.add_argument("--dev", type=int, default=24, help="dev questions the build chooses on")
    ap.add_argument("--max-tokens", type=int, default=64, help="answer length for both")
    ap.add_argument(
        "--baseline",
        type=int,
        default=100,
        help="how many of the test questions also go to the config-settings server (the "
        "slow one: ~8 s an answer on 2 cores)",
    )
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "grounded")
    ap.add_argument("--skip-mine", action="store_true", help="SQuAD only")
    ap.add_argument("--skip-squad", action="store_true", help="mine-safety only")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report: dict = {}
    if not args.skip_squad:
        project = squad_project(args.work, args.articles, args.questions, args.dev)
        bundle = build(project / "edgekit.yaml")
        test_file = args.work / "squad-test.jsonl"
        squad = ask_servers(bundle, test_file, args.max_tokens, args.work, args.baseline)
        report |= {"squad": squad, "load_after_squad": machine_load()}
        print(f"\nSQuAD: {args.articles} articles, {args.questions} test questions through serve")
        print(table(squad, "SQuAD test", ("config", "chosen, same questions")))
        print(machine_load())
    if not args.skip_mine:
        mine = mine_safety(args.work)
        report["mine_safety"] = mine
        print("\nmine-safety QA test split, in-process through the answer path")
        print(table(mine, "mine-safety test", ("base", "tuned")))
        print(machine_load())
    report["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
