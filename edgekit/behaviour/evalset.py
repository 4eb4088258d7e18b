"""The evaluation sets a bundle carries under eval/, and reading them back.

A trained bundle ships its held-out splits (`eval_domain.jsonl`, `eval_general.jsonl` from
`edgekit data build`: never trained on). An untrained bundle with docs ships question/answer
pairs made from its documents by the data rules: the model never saw them in tuning, and
they are what its users will ask. Rows are chat JSONL, as in training:
``{"messages": [{"role", "content"}...], "rule": ..., "source": ...}``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.meta import EvalSetEntry, Manifest
from edgekit.config import LoadedConfig
from edgekit.config.layout import WorkLayout
from edgekit.data.rules import resolve_rules
from edgekit.errors import BundleError, EdgekitError
from edgekit.fsutil import atomic_write_text

HELD_OUT = "held-out split of the training data (never trained on)"
FROM_DOCS = "question/answer pairs from the docs by the data rules (the model was not tuned)"
MAX_DOC_PAIRS = 200  # an untrained bundle's set: a fixed-seed sample of at most this many


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path  # where it is now (build side)
    rel: str  # where it goes in the bundle
    source: str

    def items(self) -> int:
        return sum(1 for line in self.path.read_text().splitlines() if line.strip())

    def manifest_entry(self) -> EvalSetEntry:
        return EvalSetEntry(self.name, self.rel, self.items(), self.source)


def _doc_pairs(loaded: LoadedConfig) -> list[dict[str, Any]]:
    from edgekit.data.build import cut_at_sentence, load_documents

    cfg, d = loaded.config, loaded.config.data
    if cfg.docs is None:
        raise EdgekitError(f"{loaded.path}: a behaviour eval set from documents needs `docs`")
    documents, _ = load_documents(cfg.docs)
    rules = resolve_rules(list(d.rules), list(d.custom_rules))
    rows, seen = [], set()
    for doc in documents:
        source = doc.path.relative_to(cfg.docs.resolve()).as_posix()
        for name, rule in rules.items():
            for question, answer in rule(doc):
                answer = cut_at_sentence(answer.strip(), d.max_answer_chars) or ""
                if question.strip() and answer and question.strip() not in seen:
                    seen.add(question.strip())
                    messages = [
                        {"role": "user", "content": question.strip()},
                        {"role": "assistant", "content": answer},
                    ]
                    rows.append({"messages": messages, "rule": name, "source": source})
    random.Random(d.seed).shuffle(rows)
    return rows[:MAX_DOC_PAIRS]


def package_eval_sets(loaded: LoadedConfig, trained: Any, work: Path) -> list[EvalSet]:
    """The eval sets the package stage puts in the bundle (empty without docs)."""
    from edgekit.data.build import EVAL_DOMAIN, EVAL_GENERAL

    if trained is not None:
        sets = [
            EvalSet("domain", trained.data_dir / EVAL_DOMAIN, mf.EVAL_DOMAIN_FILE, HELD_OUT),
            EvalSet("general", trained.data_dir / EVAL_GENERAL, mf.EVAL_GENERAL_FILE, HELD_OUT),
        ]
        return [s for s in sets if s.path.is_file() and s.items()]
    if loaded.config.docs is None:
        return []
    rows = _doc_pairs(loaded)
    if not rows:
        return []
    path = WorkLayout(work).behaviour_domain
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    return [EvalSet("domain", path, mf.EVAL_DOMAIN_FILE, FROM_DOCS)]


@dataclass(frozen=True)
class EvalItem:
    question: str
    reference: str
    rule: str
    source: str


def read_eval_items(root: Path, manifest: dict[str, Any], name: str = "domain") -> list[EvalItem]:
    """Questions and reference answers (the first user and assistant turns) of a set."""
    entry = next((e for e in Manifest(manifest).eval_sets if e.name == name), None)
    if entry is None:
        raise BundleError(
            f"{root}: this bundle carries no {name} eval set (bundles built before eval sets "
            "were packaged, or without docs); rebuild it with `edgekit build`"
        )
    items = []
    for n, line in enumerate((root / entry.path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            turns = row["messages"]
            question = next(m["content"] for m in turns if m["role"] == "user")
            reference = next(m["content"] for m in turns if m["role"] == "assistant")
        except (ValueError, KeyError, TypeError, StopIteration):
            raise BundleError(f"{entry.path}:{n}: not a chat row with a Q and an A") from None
        items.append(EvalItem(question, reference, row.get("rule", ""), row.get("source", "")))
    return items
