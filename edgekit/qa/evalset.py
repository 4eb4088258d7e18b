"""The QA evaluation set of a bundle: questions a site worker asks, the short reference
answers found in the site's documents, and the document (and section/page) to cite.

The set comes from the project's ``eval/qa.jsonl`` when the user wrote one, else from rules
over the documents (:mod:`edgekit.qa.questions`, optionally a local teacher model) plus a few
questions the documents cannot answer. It is split into dev and test, and never trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_text, edgekit_home
from edgekit.kb.zh_markers import is_mainly_cjk
from edgekit.qa.facts import Names, normalize
from edgekit.qa.passage import Candidate, Passage
from edgekit.qa.questions import passage_candidates
from edgekit.qa.spread import load_passages, select_items, target_items
from edgekit.qa.teacher import teacher_candidates

HEADING_SEP = " > "  # the same as edgekit.kb.store.HEADING_SEP (that module imports numpy)
KINDS = ("user", "faq", "definition", "heading", "sentence", "teacher", "unanswerable")
SPLITS = ("dev", "test")
QA_FILE = Path("eval") / "qa.jsonl"
_UNANSWERABLE = Path(__file__).with_name("unanswerable.txt")
_UNANSWERABLE_ZH = Path(__file__).with_name("unanswerable_zh.txt")


def question_id(question: str) -> str:
    """Stable id: the first 12 hex digits of the sha256 of the normalised question."""
    return hashlib.sha256(normalize(question).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: tuple[str, ...]
    source: str | None
    page: int | None = None
    section: str | None = None
    evidence: str | None = None
    kind: str = "user"
    split: str = "test"

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["answers"] = list(self.answers)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> QAItem:
        question = str(d["question"])
        return cls(
            id=str(d.get("id") or question_id(question)),
            question=question,
            answers=tuple(str(a) for a in d.get("answers") or ()),
            source=d.get("source"),
            page=d.get("page"),
            section=d.get("section"),
            evidence=d.get("evidence"),
            kind=str(d.get("kind", "user")),
            split=str(d.get("split", "test")),
        )


class QAFileError(EdgekitError):
    """A line of a QA file is wrong; the message names the file, the line and the fix."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line}: {reason}")


_USER_KEYS = {"question", "answers", "answer", "source", "page", "section", "split", "evidence"}
_EXAMPLE = '{"question": "...?", "answers": ["..."], "source": "manual.pdf", "page": 3}'


def _user_item(obj: Any, docs_prefix: str) -> tuple[QAItem, bool]:
    """One parsed line -> (item, whether it named its split); ValueError says what to fix."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object like {_EXAMPLE}")
    unknown = sorted(set(obj) - _USER_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; allowed: {sorted(_USER_KEYS)}")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError('"question" must be a non-empty string')
    if "answers" in obj and "answer" in obj:
        raise ValueError('give either "answers" (a list) or "answer" (a string), not both')
    if "answers" in obj:
        answers = obj["answers"]
        if not isinstance(answers, list) or not all(
            isinstance(a, str) and a.strip() for a in answers
        ):
            raise ValueError('"answers" must be a list of non-empty strings ([] = unanswerable)')
    elif isinstance(obj.get("answer"), str) and obj["answer"].strip():
        answers = [obj["answer"]]
    else:
        raise ValueError('add "answers": ["short answer", ...] ([] = unanswerable) or "answer"')
    source = obj.get("source")
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise ValueError('"source" must be a document path relative to the docs folder')
    if source is not None:
        source = source.strip().replace("\\", "/").removeprefix("./")
        source = source if source.startswith(docs_prefix) else docs_prefix + source
    page = obj.get("page")
    if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
        raise ValueError('"page" must be a page number (an integer >= 1)')
    for key in ("section", "evidence"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f'"{key}" must be a string')
    split = obj.get("split")
    if split is not None and split not in SPLITS:
        raise ValueError(f'"split" must be one of {list(SPLITS)}, not {split!r}')
    item = QAItem(
        id=question_id(question),
        question=question.strip(),
        answers=tuple(a.strip() for a in answers),
        source=source,
        page=page,
        section=obj.get("section"),
        evidence=obj.get("evidence"),
        kind="user",
        split=split or "test",
    )
    return item, split is not None


def read_qa_file(path: Path, docs_prefix: str = "docs/") -> list[QAItem]:
    """A user's QA set (JSON lines); items without a "split" get one from :func:`split_items`."""
    path = Path(path)
    items: list[tuple[QAItem, bool]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QAFileError(
                path,
                number,
                f"not valid JSON ({exc.msg}); write one object per line, e.g. {_EXAMPLE}",
            ) from None
        try:
            item, has_split = _user_item(obj, docs_prefix)
        except ValueError as exc:
            raise QAFileError(path, number, str(exc)) from None
        if item.id in seen:
            raise QAFileError(
                path,
                number,
                f"the same question as line {seen[item.id]}; "
                "remove one, or merge their answers into one line",
            )
        seen[item.id] = number
        items.append((item, has_split))
    if not items:
        raise QAFileError(path, 1, f"no questions; write one JSON object per line: {_EXAMPLE}")
    unsplit = split_items([item for item, has in items if not has])
    by_id = {item.id: item for item in unsplit}
    return [item if has else by_id[item.id] for item, has in items]


def write_qa_jsonl(path: Path, items: list[QAItem]) -> None:
    text = "".join(json.dumps(item.to_json(), ensure_ascii=False) + "\n" for item in items)
    atomic_write_text(Path(path), text)


def load_qa_jsonl(path: Path) -> list[QAItem]:
    """Read a set written by :func:`write_qa_jsonl`."""
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(QAItem.from_json(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise QAFileError(
                    Path(path), number, f"not a QA item ({exc}); rebuild the set, or fix this line"
                ) from None
    return items


# ---- dev/test split -------------------------------------------------------------------------
def _rank(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()


def _split_groups(groups: list[list[QAItem]], fraction: float) -> tuple[list[QAItem], list[QAItem]]:
    """Whole groups into dev until it holds ``fraction`` of the items; both non-empty when
    there are >= 2 items (a lone group is then cut in two)."""
    n = sum(len(g) for g in groups)
    if n == 0:
        return [], []
    target = min(max(round(n * fraction), 1), n - 1) if n >= 2 else round(n * fraction)
    dev: list[QAItem] = []
    test: list[QAItem] = []
    for g in groups:
        (dev if len(dev) + len(g) / 2 <= target else test).extend(g)
    if n >= 2 and (not dev or not test):
        full = dev or test
        if len(groups) >= 2:
            last = groups[-1] if full is dev else groups[0]
            moved, kept = last, [i for i in full if i not in last]
        else:
            moved, kept = full[target:], full[:target]
            if full is test:
                moved, kept = full[:target], full[target:]
        dev, test = (kept, moved) if full is dev else (moved, kept)
    return dev, test


def split_items(items: list[QAItem], dev_fraction: float = 0.5, seed: int = 0) -> list[QAItem]:
    """Deterministic dev/test split, same order as given. Items of one source section stay in
    one split; answerable and unanswerable items are split separately, so each split gets
    its share of both. Re-splitting after adding items moves few old ones (hash order)."""
    assign: dict[int, str] = {}
    answerable = [i for i in items if i.answerable]
    unanswerable = [i for i in items if not i.answerable]
    for part in (answerable, unanswerable):
        groups: dict[str, list[QAItem]] = {}
        for item in part:
            key = f"{item.source}\0{item.section}" if item.source else f"\0{item.id}"
            groups.setdefault(key, []).append(item)
        ordered = [groups[k] for k in sorted(groups, key=lambda k: _rank(k, seed))]
        dev, test = _split_groups(ordered, dev_fraction)
        assign.update({id(i): "dev" for i in dev})
        assign.update({id(i): "test" for i in test})
    out = [_with_split(i, assign[id(i)]) for i in items]
    if len(out) >= 2 and len({i.split for i in out}) == 1:  # e.g. one answerable, one not
        out[-1] = _with_split(out[-1], "dev" if out[-1].split == "test" else "test")
    return out


def _with_split(item: QAItem, split: str) -> QAItem:
    return item if item.split == split else replace(item, split=split)


# ---- unanswerable ---------------------------------------------------------------------------
_STOP = frozenset(
    "a an and are as at be by can could do does did for from has have how i if in is it its "
    "me my of on or our should that the their there this to was we what when where which who "
    "why will with would you your get".split()
)


def _content_words(text: str) -> list[str]:
    return [w.rstrip("s") for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP]


_ZH_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]{2,}")
_ZH_STOP = frozenset("什么 多少 几点 几号 几天 哪里 哪个 怎么 可以 一般 时候 每个 今天".split())


def _zh_content_words(text: str) -> list[str]:
    """Two-character pieces of Chinese text (Chinese writes no spaces between words), less
    question words and pieces holding a particle."""
    pairs = (run[i : i + 2] for run in _ZH_RUN.findall(text) for i in range(len(run) - 1))
    return [p for p in pairs if p not in _ZH_STOP and not re.search("[的了吗呢吧么]", p)]


def unanswerable_questions(docs_text: str, n: int = 4, seed: int = 0) -> list[QAItem]:
    """Plausible workplace questions whose content words mostly do not occur in the docs;
    asked in Chinese when the docs are mostly Chinese."""
    chinese = is_mainly_cjk(docs_text)
    content_words = _zh_content_words if chinese else _content_words
    vocab = set(content_words(docs_text))
    pool = []
    for line in (_UNANSWERABLE_ZH if chinese else _UNANSWERABLE).read_text("utf-8").splitlines():
        question = line.strip()
        words = content_words(question)
        if question and not question.startswith("#") and words:
            if sum(w in vocab for w in words) / len(words) < 0.4:
                pool.append(question)
    random.Random(seed).shuffle(pool)
    return [
        QAItem(id=question_id(q), question=q, answers=(), source=None, kind="unanswerable")
        for q in pool[:n]
    ]


# ---- generation -----------------------------------------------------------------------------
def _item(c: Candidate, p: Passage) -> QAItem:
    return QAItem(
        id=question_id(c.question),
        question=c.question,
        answers=c.answers,
        source=p.source,
        page=p.page,
        section=HEADING_SEP.join(p.heading_path),
        evidence=c.evidence,
        kind=c.kind,
    )


def generate_qa(
    docs: Path,
    *,
    max_items: int = 60,
    teacher: str | None = None,
    seed: int = 0,
    cache: Path | None = None,
) -> list[QAItem]:
    """Rule-based items (plus teacher items when ``teacher`` names a local model) from the
    documents under ``docs``; deterministic for a seed; at most ``max_items``."""
    return _generate(load_passages(docs), max_items, teacher, seed, cache)


def _document_candidates(
    passages: list[Passage], names: Names
) -> list[tuple[Passage, list[Candidate]]]:
    """Each passage of one document with its candidates (the document's language counts)."""
    chinese = is_mainly_cjk("\n".join(p.text for p in passages))
    return [(p, passage_candidates(p, names, chinese)) for p in passages]


def _generate(
    loaded: list[tuple[list[Passage], Names]],
    max_items: int,
    teacher: str | None,
    seed: int,
    cache: Path | None,
) -> list[QAItem]:
    per_doc = [_document_candidates(ps, names) for ps, names in loaded]
    if teacher:
        passages = [p for ps, _ in loaded for p in ps]
        cache = cache or edgekit_home() / "qa" / "teacher-cache.jsonl"
        extra = teacher_candidates(passages, teacher, cache, limit=max_items, seed=seed)
        for sections in per_doc:
            for p, cands in sections:
                cands.extend(extra.get((p.source, p.index), []))
    return [_item(c, p) for p, c in select_items(per_doc, max_items, seed)]


def build_qa_set(
    docs: Path, project_root: Path, *, teacher: str | None = None, max_items: int = 60
) -> list[QAItem]:
    """``project_root/eval/qa.jsonl`` as written by the user when present; otherwise
    generated items (about one per page of text, at most ``max_items``:
    :func:`~edgekit.qa.spread.target_items`) plus a few unanswerable ones, split into dev
    and test."""
    user_file = Path(project_root) / QA_FILE
    if user_file.is_file():
        return read_qa_file(user_file)
    loaded = load_passages(docs)
    cache = Path(project_root) / ".edgekit" / "qa-teacher-cache.jsonl"
    target = target_items(loaded, max_items)
    items = _generate(loaded, target, teacher, 0, cache)
    text = "\n".join(
        f"{p.title}\n{' '.join(p.heading_path)}\n{p.text}" for ps, _ in loaded for p in ps
    )
    items += unanswerable_questions(text, n=max(2, target // 15))
    return split_items(items)
