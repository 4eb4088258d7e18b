"""`edgekit data build`: documents -> chat JSONL by rules, replay mix, held-out splits, card.

Writes into the output folder:
  train.jsonl         domain examples + replay examples, shuffled (what SFT trains on)
  eval_domain.jsonl   held-out domain examples (never trained on)
  eval_general.jsonl  held-out general prompts with the base model's answers
  pretrain.txt        raw domain text of the training documents (continued pretraining)
  card.json / card.png  counts per rule, dropped and why, dedupe rate, length histograms
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit import generate
from edgekit.config import LoadedConfig
from edgekit.config.layout import TRAIN_FILE
from edgekit.config.train import DataSection
from edgekit.data.rules import resolve_rules
from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_json, atomic_write_text
from edgekit.kb import zh_markers
from edgekit.kb.loaders import Document, load_documents
from edgekit.plots import pyplot, save_png
from edgekit.qa.facts import question_key
from edgekit.resources import general_prompts

TRAIN, EVAL_DOMAIN, EVAL_GENERAL, PRETRAIN = (
    TRAIN_FILE,
    "eval_domain.jsonl",
    "eval_general.jsonl",
    "pretrain.txt",
)
CARD, CARD_PNG = "card.json", "card.png"
FOLLOW_UPS = ("Please go on.", "What else should I know?", "Continue.", "And then?")
FOLLOW_UPS_ZH = ("请继续。", "还有哪些需要注意的？", "继续说。", "然后呢？")
# a sentence ends at . ! ? before a space, or at Chinese 。！？ (and a closing quote after it)
_SENTENCE_END = re.compile(
    r"(?<=[.!?])\s+|(?<=[。！？])(?![”’」』）])\s*|(?<=[。！？][”’」』）])\s*"
)


@dataclass
class DataCard:
    per_rule: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    cut: int = 0
    multi_turn: int = 0
    duplicates: int = 0
    candidates: int = 0
    train_domain: int = 0
    train_replay: int = 0
    eval_domain: int = 0
    eval_general: int = 0
    answer_chars: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_rule": dict(self.per_rule),
            "dropped": dict(self.dropped),
            "cut_at_sentence": self.cut,
            "multi_turn": self.multi_turn,
            "dedupe_rate": self.duplicates / self.candidates if self.candidates else 0.0,
            "candidates": self.candidates,
            "train_domain": self.train_domain,
            "train_replay": self.train_replay,
            "eval_domain": self.eval_domain,
            "eval_general": self.eval_general,
            "unparsed_files": self.errors,
        }


def cut_at_sentence(text: str, limit: int) -> str | None:
    """``text`` cut to at most ``limit`` chars at a sentence end, or None if impossible."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.start() for m in _SENTENCE_END.finditer(head + " ")]
    return head[: ends[-1]].rstrip() if ends and ends[-1] > limit // 3 else None


def split_parts(text: str, size: int) -> list[str]:
    """Paragraph/sentence-aligned parts of at most about ``size`` characters."""
    units = [u for p in text.split("\n\n") for u in _SENTENCE_END.split(p.strip()) if u]
    parts: list[str] = []
    for u in units:
        if parts and len(parts[-1]) + len(u) + 1 <= size:
            parts[-1] += zh_markers.joiner(parts[-1], u) + u
        else:
            parts.append(u)
    return parts


def to_example(
    system: str, question: str, answer: str, cfg: DataSection, rng: random.Random
) -> tuple[list[dict[str, str]], bool]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    if len(answer) <= cfg.multi_turn_chars:
        return messages + [{"role": "assistant", "content": answer}], False
    parts = split_parts(answer, cfg.multi_turn_chars)
    follow_ups = FOLLOW_UPS_ZH if zh_markers.is_mainly_cjk(answer) else FOLLOW_UPS
    for i, part in enumerate(parts):
        if i:
            messages.append({"role": "user", "content": rng.choice(follow_ups)})
        messages.append({"role": "assistant", "content": part})
    return messages, len(parts) > 1


def _user_replay(path: Path) -> list[list[dict[str, str]]]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
        except (json.JSONDecodeError, KeyError, TypeError):
            messages = None
        if not _is_conversation(messages):
            raise EdgekitError(f'{path}:{n}: expected {{"messages": [{{"role", "content"}}]}}')
        rows.append(messages)
    return rows


def _is_conversation(messages: object) -> bool:
    """A non-empty list of messages, each a dict with at least `role` and `content`."""
    return (
        isinstance(messages, list)
        and bool(messages)
        and all(isinstance(m, dict) and {"role", "content"} <= m.keys() for m in messages)
    )


def build_data(
    loaded: LoadedConfig,
    out: Path,
    base_spec: str | None = None,
    patterns: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    exclude_questions: set[str] | None = None,
) -> DataCard:
    """Build the training and evaluation files for ``loaded`` into ``out``.

    ``exclude_questions`` (normalised, see :func:`question_key`): the QA eval set's
    questions; no training example asks one of them."""

    cfg, d = loaded.config, loaded.config.data
    if cfg.docs is None:
        raise EdgekitError(f"{loaded.path}: training data needs a `docs` folder")
    rng = random.Random(d.seed)
    card = DataCard()
    documents, card.errors = load_documents(cfg.docs, patterns)
    rules = resolve_rules(list(d.rules), list(d.custom_rules))
    exclude = exclude_questions or set()
    domain = _rule_examples(loaded, documents, rules, exclude, card, rng)
    if d.augment.teacher is not None:
        domain += _self_instruct(loaded, documents, out, card, rng, progress)
    if d.grounded:
        from edgekit.data.grounded import grounded_examples

        grounded = grounded_examples(
            documents,
            cfg.docs,
            cfg.prompt.system,
            exclude,
            d,
            rng,
            style=cfg.prompt.prompt_style,
            order=cfg.prompt.excerpt_order,
            max_seq_tokens=cfg.train.max_seq_len,
        )
        card.per_rule["grounded"] += len(grounded)
        card.answer_chars.extend(len(r["messages"][-1]["content"]) for r in grounded)
        domain.extend(grounded)
    if not domain:
        raise EdgekitError(f"{cfg.docs}: the rules {list(rules)} produced no examples")
    _write_splits(loaded, out, base_spec, documents, domain, card, rng, progress)
    return card


def _rule_examples(
    loaded: LoadedConfig,
    documents: list[Document],
    rules: dict[str, Callable[[Document], list[tuple[str, str]]]],
    exclude: set[str],
    card: DataCard,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Chat examples from the rules' question/answer pairs: empty, duplicate, too long and
    QA-eval-set questions dropped (and counted on the card)."""
    cfg, d = loaded.config, loaded.config.data
    docs = cfg.docs.resolve() if cfg.docs else Path()
    seen: set[str] = set()
    domain: list[dict[str, Any]] = []
    for doc in documents:
        source = doc.path.relative_to(docs).as_posix()
        for name, rule in rules.items():
            for question, answer in rule(doc):
                card.candidates += 1
                question, answer = question.strip(), answer.strip()
                if not question or not answer:
                    card.dropped["empty"] += 1
                    continue
                key = re.sub(r"\W+", " ", f"{question} {answer}".lower())
                if key in seen:
                    card.duplicates += 1
                    card.dropped["duplicate"] += 1
                    continue
                seen.add(key)
                if question_key(question) in exclude:
                    card.dropped["in the QA eval set"] += 1
                    continue
                cut = cut_at_sentence(answer, d.max_answer_chars)
                if cut is None:
                    card.dropped["too long, no sentence boundary"] += 1
                    continue
                card.cut += cut != answer
                messages, multi = to_example(cfg.prompt.system, question, cut, d, rng)
                card.multi_turn += multi
                card.per_rule[name] += 1
                card.answer_chars.append(len(cut))
                domain.append({"messages": messages, "rule": name, "source": source})
    return domain


def _self_instruct(
    loaded: LoadedConfig,
    documents: list[Document],
    out: Path,
    card: DataCard,
    rng: random.Random,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    """Teacher-written pairs (data.augment), filtered for support in their source."""
    from edgekit.data.augment import augment

    cfg, d = loaded.config, loaded.config.data
    pairs, why = augment(documents, d.augment, d.seed, out / "augment-cache.jsonl", progress)
    rows = []
    for question, answer, title in pairs:
        messages, _ = to_example(cfg.prompt.system, question, answer, d, rng)
        card.per_rule["self_instruct"] += 1
        card.answer_chars.append(len(answer))
        rows.append({"messages": messages, "rule": "self_instruct", "source": title})
    for reason, n in why.items():
        if n:
            card.dropped[f"self-instruct: {reason}"] += n
    return rows


def _write_splits(
    loaded: LoadedConfig,
    out: Path,
    base_spec: str | None,
    documents: list[Document],
    domain: list[dict[str, Any]],
    card: DataCard,
    rng: random.Random,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Split domain rows into train/eval, add self-replay, write the files and the card."""
    d = loaded.config.data
    rng.shuffle(domain)
    n_eval = max(1, round(len(domain) * d.eval_fraction)) if d.eval_fraction else 0
    eval_domain, train_domain = domain[:n_eval], domain[n_eval:]
    replay_train, replay_eval = _replay(loaded, out, base_spec, len(train_domain), rng, progress)
    train = train_domain + replay_train
    rng.shuffle(train)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in ((TRAIN, train), (EVAL_DOMAIN, eval_domain), (EVAL_GENERAL, replay_eval)):
        atomic_write_text(out / name, "".join(json.dumps(r) + "\n" for r in rows))
    # pretraining text must not leak held-out answers: drop every section containing one
    # (a definition line or a multi-turn part is a piece of its section, not all of it)
    held_out = [
        m["content"] for r in eval_domain for m in r["messages"] if m["role"] == "assistant"
    ]
    raw = [
        s.text for doc in documents for s in doc.sections if not any(a in s.text for a in held_out)
    ]
    atomic_write_text(out / PRETRAIN, "\n\n".join(raw) + "\n")
    card.train_domain, card.train_replay = len(train_domain), len(replay_train)
    card.eval_domain, card.eval_general = len(eval_domain), len(replay_eval)
    atomic_write_json(out / CARD, card.as_dict())
    _plot_card(card, [len(r["messages"][-1]["content"]) for r in replay_train], out / CARD_PNG)


def _replay(
    loaded: LoadedConfig,
    out: Path,
    base_spec: str | None,
    n_domain: int,
    rng: random.Random,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    d = loaded.config.data
    if d.general == "none":
        return [], []
    if d.general == "self-replay":
        prompts = general_prompts()
        rng.shuffle(prompts)
        n_eval = max(1, round(len(prompts) * d.eval_fraction)) if d.eval_fraction else 0
        want = min(len(prompts) - n_eval, round(n_domain * d.replay_ratio))
        chosen = prompts[:n_eval] + prompts[n_eval : n_eval + want]
        system = loaded.config.prompt.system
        requests = [
            [{"role": "system", "content": system}, {"role": "user", "content": p["prompt"]}]
            for p in chosen
        ]

        gen = generate.make_generator(base_spec or loaded.config.model.base)
        answers = generate.cached_generate(
            gen, requests, d.replay_max_tokens, out / "replay-cache.jsonl", progress=progress
        )
        rows = [
            {
                "messages": r + [{"role": "assistant", "content": a}],
                "rule": "replay",
                "source": p["id"],
            }
            for r, a, p in zip(requests, answers, chosen)
            if a
        ]
        return rows[n_eval:], rows[:n_eval]
    rows = [
        {"messages": m, "rule": "replay", "source": d.general}
        for m in _user_replay(Path(d.general))
    ]
    rng.shuffle(rows)
    n_eval = max(1, round(len(rows) * d.eval_fraction)) if d.eval_fraction else 0
    return rows[n_eval : n_eval + round(n_domain * d.replay_ratio)], rows[:n_eval]


def _plot_card(card: DataCard, replay_chars: list[int], path: Path) -> None:
    """Histograms of answer lengths and a bar chart of examples per rule."""
    plt = pyplot()
    if plt is None:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.hist([card.answer_chars, replay_chars or [0]], bins=20, label=["domain", "replay"])
    a.set_xlabel("answer length (characters)")
    a.set_ylabel("examples")
    a.legend()
    a.set_title("Answer lengths")
    rules = dict(card.per_rule) | {"replay": card.train_replay}
    b.barh(list(rules), list(rules.values()), color="#4c72b0")
    b.set_title(f"Examples per rule (dedupe rate {card.as_dict()['dedupe_rate']:.1%})")
    fig.tight_layout()
    save_png(fig, path)
