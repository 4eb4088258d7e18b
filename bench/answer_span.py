"""Answer spans on SQuAD dev articles the grounded-QA bench never tests on.

bench/grounded_qa.py builds its bundle from the first --articles (4) articles of
../shared/eval/squad-dev-subset.json and tests on their questions; this script reads the
articles after them (--skip 4 by default), so the span heuristics of edgekit.kb.span and
the sentence choice of edgekit.kb.evidence can be tuned without touching test items.

Two measures per question:
- oracle: the span chosen inside the sentence that holds SQuAD's answer (span heuristics
  alone), token F1 by question kind and the exact-match rate (SQuAD's normalisation);
- kb (--kb): the whole extract path: the articles ingested into a KB, the question through
  runtime.answer.plan_answer with prompt_style extract, scored as the QA eval scores it
  (answer right on the whole reply, token F1 on its short answer, false abstentions);
- foreign (--foreign N): questions of the N articles after them asked of the same KB, none
  answerable there: how many the extract path abstains on (the rest quote something).
- held-out (--held-out): a KB of every other paragraph of each article; the kept
  paragraphs' questions are answerable, the others' (whose answer the kept text does not
  hold) are unanswerable on the same topic: "foreign_abstained" counts those.

    .venv/bin/python bench/answer_span.py [--skip 4] [--articles 6] [--kb] [--foreign 6]
                                          [--held-out] [--show 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "eval" / "squad-dev-subset.json"


def dev_items(skip: int, articles: int) -> list[dict]:
    data = json.loads(SQUAD.read_text())["data"][skip : skip + articles]
    out = []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                out.append(
                    {
                        "title": article["title"],
                        "context": para["context"],
                        "question": qa["question"],
                        "answers": [a["text"] for a in qa["answers"]],
                        "start": qa["answers"][0]["answer_start"],
                    }
                )
    return out


def held_out(items: list[dict]) -> tuple[list[dict], list[dict]]:
    """Every other paragraph of each article kept (its questions: answerable) and the rest
    held out: their questions asked of a KB on the same topic that lacks their paragraph,
    those whose answer the kept paragraphs do not hold anywhere (the unanswerable question
    a real document set gets: near its topic, not answered in it)."""
    from edgekit.qa.score import normalize

    order: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item["context"] not in order[item["title"]]:
            order[item["title"]].append(item["context"])
    kept = [i for i in items if order[i["title"]].index(i["context"]) % 2 == 0]
    text = normalize(" ".join({i["context"] for i in kept}))
    held = [
        i
        for i in items
        if order[i["title"]].index(i["context"]) % 2 == 1
        and not any(normalize(a) in text for a in i["answers"])
    ]
    return kept, held


def gold_sentence(context: str, start: int) -> str:
    from edgekit.kb.chunking import sentences

    for span in sentences(context):
        if span.start <= start < span.end:
            return " ".join(context[span.start : span.end].split())
    return context


def oracle(items: list[dict], show: int) -> dict:
    from edgekit.kb.span import answer_span, question_kind
    from edgekit.qa.score import normalize, token_f1

    f1s: dict[str, list[float]] = defaultdict(list)
    exact: list[bool] = []
    shown = 0
    for item in items:
        sentence = gold_sentence(item["context"], item["start"])
        span = answer_span(item["question"], sentence)
        text = span.text if span else sentence
        f1 = token_f1(text, item["answers"])
        kind = question_kind(item["question"])
        f1s[kind].append(f1)
        f1s["all"].append(f1)
        exact.append(normalize(text) in {normalize(a) for a in item["answers"]})
        if f1 < 0.5 and shown < show:
            shown += 1
            print(f"[{kind}] {item['question']}\n   gold {item['answers'][0]!r} got {text!r}")
    got = {k: (len(v), round(sum(v) / len(v), 3)) for k, v in sorted(f1s.items())}
    return got | {"exact": round(sum(exact) / max(1, len(exact)), 3)}


def kb_path(items: list[dict], work: Path, show: int, foreign: list[dict]) -> dict:
    from edgekit.kb.span import question_kind
    from edgekit.kb.store import KnowledgeBase
    from edgekit.qa.score import abstained, contains, short_answer, token_f1

    docs = work / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    by_title: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item["context"] not in by_title[item["title"]]:
            by_title[item["title"]].append(item["context"])
    for title, paras in by_title.items():
        (docs / f"{title}.md").write_text(f"# {title}\n\n" + "\n\n".join(paras) + "\n")
    kb = _open_kb(KnowledgeBase, docs, work / "kb")
    stats: Counter[str] = Counter()
    f1s: dict[str, list[float]] = defaultdict(list)
    shown = 0
    for n, item in enumerate(items, start=1):
        print(f"\r  {n}/{len(items)}", end="", file=sys.stderr)
        reply = _extract(kb, item["question"])
        stats["items"] += 1
        if reply is None:
            stats["model_fallback"] += 1
            f1s["all"].append(0.0)
            continue
        if abstained(reply):
            stats["abstained"] += 1
            if shown < show:
                shown += 1
                print(f"ABSTAINED {item['question']}\n   gold {item['answers'][0]!r}")
        right = contains(reply, item["answers"])
        f1 = token_f1(short_answer(reply), item["answers"])
        stats["right"] += right
        f1s["all"].append(f1)
        f1s[question_kind(item["question"])].append(f1)
        stats["words"] += len(short_answer(reply).split())
        if not right and shown < show:
            shown += 1
            print(f"{item['question']}\n   gold {item['answers'][0]!r}\n   got {reply!r}")
    n = stats["items"]
    quoted = [q["question"] for q in foreign if not abstained(_extract(kb, q["question"]) or "")]
    for q in quoted[:show]:
        print(f"QUOTED foreign {q}")
    return {
        "items": n,
        "answer_right": round(stats["right"] / n, 3),
        "false_abstentions": stats["abstained"],
        "foreign_abstained": f"{len(foreign) - len(quoted)}/{len(foreign)}",
        "model_fallback": stats["model_fallback"],
        "short_words": round(stats["words"] / max(1, n - stats["model_fallback"]), 2),
        "token_f1": {k: (len(v), round(sum(v) / len(v), 3)) for k, v in sorted(f1s.items())},
    }


def _extract(kb: object, question: str) -> str | None:
    """The extract path's fixed reply to ``question`` (None: it would ask the model)."""
    from edgekit.bundle.answer_settings import AnswerSettings
    from edgekit.runtime.answer.path import plan_answer

    settings = AnswerSettings().with_values(prompt_style="extract")
    messages = [{"role": "user", "content": question}]
    return plan_answer(settings, messages, lambda s: len(s.split()) * 4 // 3, kb=kb).fixed_reply


def _open_kb(store: type, docs: Path, db: Path) -> object:
    from edgekit.kb.ingest import ingest_folder

    kb, _ = ingest_folder(docs, db)
    return kb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", type=int, default=4, help="articles the grounded bench uses")
    ap.add_argument("--articles", type=int, default=6)
    ap.add_argument("--kb", action="store_true", help="also the whole extract path")
    ap.add_argument(
        "--foreign", type=int, default=0, help="also ask the questions of this many later articles"
    )
    ap.add_argument(
        "--held-out",
        action="store_true",
        help="KB of every other paragraph; ask the others' questions too (near-topic "
        "unanswerables)",
    )
    ap.add_argument("--limit", type=int, default=0, help="every n-th question only (0: all)")
    ap.add_argument("--show", type=int, default=0, help="print this many misses")
    ap.add_argument("--tune", action="store_true", help="grid over the span weights")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "answer-span")
    args = ap.parse_args()
    items = dev_items(args.skip, args.articles)
    if args.limit:
        items = items[:: max(1, len(items) // args.limit)][: args.limit]
    print(f"{len(items)} questions from articles {args.skip}..{args.skip + args.articles - 1}")
    if args.tune:
        tune(items)
        return
    print("oracle sentence, span token F1 by question kind:", oracle(items, args.show))
    if args.held_out:
        kept, held = held_out(items)
        print(f"{len(kept)} answerable, {len(held)} held-out questions (kept paragraphs only)")
        got = kb_path(kept, args.work / f"{args.skip}-{args.articles}-even", args.show, held)
        print("\nextract path, held-out paragraphs:", got)
    elif args.kb:
        foreign = dev_items(args.skip + args.articles, args.foreign) if args.foreign else []
        if args.limit and foreign:
            foreign = foreign[:: max(1, len(foreign) // args.limit)][: args.limit]
        work = args.work / f"{args.skip}-{args.articles}"
        got = kb_path(items, work, args.show, foreign)
        print("\nextract path:", got)
    sys.stdout.flush()


def tune(items: list[dict]) -> None:
    """Grid over the span scorer's weights on these (dev) items; prints the best few."""
    import itertools
    import time

    from edgekit.kb import span as sp

    t0 = time.time()
    results = []
    words_prior = dict(sp.PRIOR["words"])
    for cut, lw, dw, pname, pnum in itertools.product(
        (True, False), (0.0, 0.03, 0.08), (0.03, 0.08, 0.15), (0.2, 0.35, 0.5), (0.1, 0.3)
    ):
        sp.CUT_AT_STOP, sp.LENGTH_WEIGHT, sp.DISTANCE_WEIGHT = cut, lw, dw
        sp.PRIOR["words"] = words_prior | {"name": pname, "number": pnum, "date": pnum}
        got = oracle(items, 0)
        results.append((got["all"][1], got.get("words", (0, 0))[1], cut, lw, dw, pname, pnum))
    for r in sorted(results, reverse=True)[:8]:
        print(r)
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
