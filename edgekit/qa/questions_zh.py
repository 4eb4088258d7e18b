"""Rule-based questions in Chinese: one mostly Chinese passage -> candidate QA pairs.

The Chinese twin of :mod:`edgekit.qa.questions`, chosen per passage by :func:`is_chinese`.
FAQ and definition lines are found with the patterns the training-data rules use
(:mod:`edgekit.data.rules`), so both read the same '问：…？' / '答：…' and '术语是指……' lines.

  faq         a question heading or a '问：…？' line -> a number with its unit when the
              question asks 多少/多长/多久/几, else the first clause of the answer
  definition  '瓦斯是指……' / '瓦斯：……' / '瓦斯，指……' -> '什么是瓦斯？' -> its first clause
  sentence    a sentence holding a number with a unit ('1.0%', '20 米', '每班三次') ->
              '根据《通风管理》，…超过多少时…？' -> the span; and table cells holding one
  option      a line of an option list ('- -t, --test: 对手册页执行正确性检查。')
              -> '根据《mandb.8》，-t 选项做什么？' -> the first clause of its text; for a
              flag also '根据《mandb.8》，哪个选项对手册页执行正确性检查？' -> the flags
Every answer is a verbatim span of its evidence, a verbatim sentence (or row) of the passage.
"""

from __future__ import annotations

import re

from edgekit.kb import zh_markers
from edgekit.kb.term_name import line_term
from edgekit.qa import markers
from edgekit.qa.facts import Fact
from edgekit.qa.passage import Candidate, Passage

MAX_SPAN = 24
"""Most characters of a phrase answer (a clause of an FAQ answer or a definition)."""
MAX_BODY = 48
"""Most characters of a fact question's sentence before clauses after the asked one go."""

_TIME_UNITS = ("学时", "小时", "分钟", "秒钟", "秒", "个月", "天", "周", "年", "h", "min")
_COUNT_UNITS = ("次", "遍", "道", "台", "根", "组", "个", "名", "人", "处", "块")
_OTHER_UNITS = (
    "%", "‰", "℃", "°C", "立方米", "平方米", "毫米", "厘米", "千米", "公里", "米", "千克",
    "公斤", "吨", "m3/min", "m3/s", "m/s", "mm", "cm", "km", "m3", "m2", "m", "kN", "N·m",
    "MPa", "kPa", "kV", "kW", "V", "kg", "ppm", "dB",
)  # fmt: skip
_UNIT = "|".join(
    re.escape(u) for u in sorted(_TIME_UNITS + _COUNT_UNITS + _OTHER_UNITS, key=len, reverse=True)
)
_N = r"(?<![A-Za-z0-9.])\d+(?:\.\d+)?"
_UNIT_END = r"(?![A-Za-z/]|(?<=人)员)"
_FACT = re.compile(
    rf"{_N}(?:\s?(?:{_UNIT}))?\s?[～~至]\s?\d+(?:\.\d+)?\s?(?P<range>{_UNIT}){_UNIT_END}"
    rf"|{_N}\s?(?P<unit>{_UNIT}){_UNIT_END}"
    r"|(?<![第一二三四五六七八九十两])(?P<cn>[两三四五六七八九十]{1,2})(?P<cnunit>次|遍|道|台|根)"
)
_ASKS_AMOUNT = re.compile(r"多少|多长|多久|多大|多高|多远|多深|多重|几")
_ASKS_TIME = re.compile(r"多长时间|多久|几(?:个月|天|年|小时|分钟|秒|周)")
_ARTICLE = re.compile(r"^第[\d一二三四五六七八九十百零]{1,6}条\s*")
_LIST = re.compile(r"^(?:[-*•·]|\d{1,2}[.)、．])\s*")
_SENTENCE = re.compile(r"[^。！？；!?;]+[。！？；!?;]?")
# a fragment after '；' that opens with a comparison has lost its subject ('；超过 30℃ 时，…')
_NO_SUBJECT = re.compile(r"^(?:不得|不超过|不低于|不少于|超过|达到|低于|高于|小于|大于|少于)")
_CONDITION = ("时", "后", "前")
# a clause opening with one of these is a condition too ('如果设置了 $MANLESS，它的值…')
_IF = ("如果", "假如", "若", "一旦", "当")
_BRACKETS = re.compile(r"[（(][^）)]*[）)]")
_CLAUSE = re.compile(r"[，,。；;！？!?：:]")
_MEANS = re.compile(
    r"^[”\"」』]?\s*(?:[（(][^）)]*[）)])?[”\"」』]?\s*"
    r"(?:(?:[，,：:]\s*)?(?:是指|系指|指的是)|[，,：:]\s*指|[，,：:])\s*"
)


def is_chinese(p: Passage) -> bool:
    """Whether the passage is mostly Chinese (then its questions are asked in Chinese)."""
    return zh_markers.is_mainly_cjk(p.text)


def _unit_of(m: re.Match[str]) -> str:
    return m["cnunit"] or m["range"] or m["unit"]


def zh_facts(text: str) -> list[Fact]:
    """Numbers with a unit in Chinese text, typed like :func:`edgekit.qa.facts.find_facts`."""
    out = []
    for m in _FACT.finditer(text):
        unit = _unit_of(m)
        kind = (
            "duration"
            if unit in _TIME_UNITS
            else "count"
            if unit in _COUNT_UNITS
            else "percent"
            if unit in ("%", "‰")
            else "quantity"
        )
        out.append(Fact(m.start(), m.end(), m.group(), kind))
    return out


def _number(fact: Fact) -> float:
    digits = re.match(r"\d+(?:\.\d+)?", fact.text)
    return float(digits.group()) if digits else 2.0  # '三次': a small count


def wh_word(fact: Fact, before: str) -> str:
    """What asks for the fact: 几次, 多少米, 多长时间 (每多少天 after 每), 多少 (for %)."""
    unit = _FACT.fullmatch(fact.text)
    unit_text = _unit_of(unit) if unit else ""
    if fact.type == "count":
        return ("几" if _number(fact) < 10 else "多少") + unit_text
    if fact.type == "duration":
        each = re.search(r"每隔?\s*$", before)
        return "多少" + unit_text if each or unit_text == "学时" else "多长时间"
    if unit_text in ("℃", "°C"):
        return "多少度"
    return "多少" + unit_text if zh_markers.has_cjk(unit_text) else "多少"


def _join(left: str, word: str, right: str) -> str:
    """Put ``word`` between two pieces, dropping the spaces that set off a number."""
    if not re.search(r"[A-Za-z0-9]\s*$", left):
        left = left.rstrip()
    if not re.match(r"^\s*[A-Za-z0-9]", right):
        right = right.lstrip()
    return left + word + right


def _book(p: Passage) -> str:
    return markers.book_title(p.title)


def sentences(text: str) -> list[str]:
    """Sentences of each line, ending punctuation kept; article numbers and list marks gone."""
    out = []
    for line in text.split("\n"):
        line = _LIST.sub("", _ARTICLE.sub("", line.strip()))
        line = markers.ANSWER_MARK.sub("", line, count=1)
        out.extend(s.strip() for s in _SENTENCE.findall(line) if s.strip())
    return out


def _whole(sentence: str, text: str) -> bool:
    """Whether a sentence stands on its own: brackets closed, and not a subject-less
    fragment after a '；'."""
    at = text.find(sentence)
    after_semicolon = at > 0 and text[:at].rstrip().endswith(("；", ";"))
    balanced = all(sentence.count(a) == sentence.count(b) for a, b in ("（）", "()", "“”"))
    return balanced and not (after_semicolon and _NO_SUBJECT.match(sentence))


def key_clause(text: str, question: str = "") -> str | None:
    """The first clause of ``text`` (up to ，/。/；) of 2..MAX_SPAN characters that the
    question does not contain, past leading conditions ('事故发生时，', '如果设置了 X，'); a
    long clause is cut at its last '、' that fits."""
    for clause in _CLAUSE.split(text):
        clause = clause.strip()
        if clause.endswith(_CONDITION) or clause.startswith(_IF):
            continue
        if len(clause) > MAX_SPAN:
            cut = clause.rfind("、", 0, MAX_SPAN)
            clause = clause[:cut] if cut >= 6 else ""
        if len(clause) >= 2 and _bare(clause) not in _bare(question):
            return clause
        if clause:
            return None
    return None


def _bare(text: str) -> str:
    return "".join(text.split())


# ---- faq ------------------------------------------------------------------------------------
def _amount(question: str, sents: list[str]) -> tuple[str, str] | None:
    """(fact, sentence) for a question asking for an amount; its unit named in the question
    first, a duration for 多久/多长时间."""
    facts = [(f, s) for s in sents[:3] for f in zh_facts(s)]
    if _ASKS_TIME.search(question):
        facts = [(f, s) for f, s in facts if f.type == "duration"] or facts
    named = [(f, s) for f, s in facts if re.sub(r"[\d.\s～~至]", "", f.text) in question]
    best = (named or facts)[:1]
    return (best[0][0].text, best[0][1]) if best else None


def faq_answer(question: str, answer_text: str) -> Candidate | None:
    sents = sentences(markers.strip_answer_mark(answer_text))
    if not sents:
        return None
    if _ASKS_AMOUNT.search(question) and (found := _amount(question, sents)):
        return Candidate(question, (found[0],), found[1], "faq")
    phrase = key_clause(sents[0], question)
    return Candidate(question, (phrase,), sents[0], "faq") if phrase else None


def faq_candidates(p: Passage) -> list[Candidate]:
    """A question heading -> its first paragraph; '问：…？' lines -> their answers."""
    pairs = []
    leaf = p.heading_path[-1] if p.heading_path else ""
    heading = markers.FAQ_HEADING.match(leaf)
    if heading and leaf.rstrip().endswith(("?", "？")) and p.text.strip():
        pairs.append((heading["q"].strip(), p.text.strip().split("\n\n")[0]))
    pairs.extend(markers.faq_in_text(p.text))
    return [c for q, a in pairs if (c := faq_answer(q, a)) is not None]


# ---- definitions ----------------------------------------------------------------------------
def definition_candidates(p: Passage) -> list[Candidate]:
    """'X是指Y' / 'X：Y' / 'X，指Y' lines -> '什么是X？' -> the first clause of Y."""
    out = []
    for line in p.text.split("\n"):
        found = markers.zh_term(line.strip())
        if found is None:
            continue
        term, body = found
        rest = body[body.find(term) + len(term) :]
        means = _MEANS.match(rest)
        phrase = key_clause(rest[means.end() :], term) if means else None
        evidence = sentences(body)
        if phrase and evidence and phrase in evidence[0]:
            out.append(Candidate(f"什么是{term}？", (phrase,), evidence[0], "definition"))
    return out


# ---- sentences and tables with facts --------------------------------------------------------
def _cut(body: str, at: int) -> str:
    """A long question body ends with the clause holding the asked-for value (and the clause
    after it, when that one is a condition: '…达到多少时，不准装药')."""
    if len(body) <= MAX_BODY:
        return body
    ends = [m.start() for m in re.finditer("[，,]", body) if m.start() > at]
    if not ends:
        return body
    if body[: ends[0]].endswith(_CONDITION) and len(ends) > 1:
        return body[: ends[1]]
    return body[: ends[0]]


def fact_question(sentence: str, p: Passage) -> Candidate | None:
    """'根据《标题》，<sentence with its first unique fact as 多少/几次/多长时间>？'."""
    body = sentence.rstrip("。！？；!?;").strip()
    found = zh_facts(body)
    if not found or len(found) > 4 or body.startswith(markers.POINTING) or " | " in body:
        return None
    fact = next((f for f in found if body.count(f.text) == 1), None)
    if fact is None:
        return None
    word = wh_word(fact, body[: fact.start])
    asked = _join(body[: fact.start], word, body[fact.end :])
    asked = _cut(asked, asked.find(word))
    if len(asked) > MAX_BODY + 20:
        return None
    return Candidate(f"根据{_book(p)}，{asked}？", (fact.text,), sentence, "sentence")


def sentence_candidates(p: Passage) -> list[Candidate]:
    lines = [line for line in p.text.split("\n") if " | " not in line]
    found = [s for s in sentences("\n".join(lines)) if _whole(s, p.text)]
    return [c for s in found if (c := fact_question(s, p)) is not None]


def table_candidates(p: Passage) -> list[Candidate]:
    """Cells of 'a | b | c' tables (first row = header) that hold a fact, when the row's first
    cell names it once: '根据《标题》中的表格，氨（NH3）的最高允许浓度是多少？'."""
    out = []
    for para in p.text.split("\n\n"):
        rows = [[c.strip() for c in r.split(" | ")] for r in para.split("\n")]
        if len(rows) < 2 or not all(len(r) == len(rows[0]) > 1 for r in rows):
            continue
        header, body = rows[0], rows[1:]
        firsts = [r[0] for r in body]
        for row in body:
            if not row[0] or firsts.count(row[0]) > 1 or zh_facts(row[0]):
                continue
            for name, cell in zip(header[1:], row[1:]):
                facts = zh_facts(cell)
                rest = len(_BRACKETS.sub("", cell)) - len(facts[0].text) if facts else 0
                if name and facts and rest <= 4:  # '达到 1.0%', '0.004%（40 ppm）'; no actions
                    question = f"根据{_book(p)}中的表格，{row[0]}的{name}是多少？"
                    out.append(Candidate(question, (facts[0].text,), " | ".join(row), "sentence"))
    return out


# ---- option and variable lists --------------------------------------------------------------
# every GNU program has these; asking for them in each document says nothing of the site's
_STANDARD_FLAGS = {"--help", "--usage", "--version", "-?"}
_THIS_OPTION = re.compile(r"^(?:此|该|这个|本)(?:选项|标志)")
_FLAG = re.compile(r"--?[A-Za-z0-9?][\w-]*")
MAX_OPTION_CLAUSE = 30  # most characters of the text a "which option" question restates


def option_candidates(p: Passage) -> list[Candidate]:
    """Lines of an option list (edgekit.kb.term_name.line_term) with Chinese text:
    '<flag> 选项做什么？' -> the first clause of its text, and '哪个选项<that clause>？' ->
    the flags."""
    out = []
    for line in p.text.split("\n"):
        term = line_term(line)
        text = line.strip()
        if term is None or term not in text:
            continue
        first = sentences(text[text.find(term) + len(term) :].lstrip(" :："))[:1]
        flags = tuple(m.group() for w in term.replace(",", " ").split() if (m := _FLAG.match(w)))
        if not first or not zh_markers.is_mainly_cjk(first[0]) or not flags:
            continue  # a variable's line ('MANWIDTH: …') is a definition: '什么是MANWIDTH？'
        if _STANDARD_FLAGS & set(flags):
            continue
        question = f"根据{_book(p)}，{flags[0]} 选项做什么？"
        if phrase := key_clause(first[0], question):
            out.append(Candidate(question, (_THIS_OPTION.sub("", phrase),), first[0], "option"))
        clause = _THIS_OPTION.sub("", _CLAUSE.split(first[0])[0].strip())
        if 4 <= len(clause) <= MAX_OPTION_CLAUSE and not clause.endswith("下"):
            which = f"根据{_book(p)}，哪个选项{clause}？"
            out.append(Candidate(which, flags, text, "option"))
    return out


def valid(c: Candidate, p: Passage) -> bool:
    """Chinese questions; answers short verbatim spans of the evidence, which is verbatim
    passage text; the question does not give the answer away."""
    return (
        c.question.endswith("？")
        and 6 <= len(c.question) <= 90
        and zh_markers.is_mainly_cjk(c.question)
        and bool(c.answers)
        and _bare(c.evidence) in _bare(p.text)
        and all(
            0 < len(a) <= MAX_SPAN and a in c.evidence and _bare(a) not in _bare(c.question)
            for a in c.answers
        )
    )


def candidates(p: Passage) -> list[Candidate]:
    """Every valid candidate of a Chinese passage, in rule order (faq, definition, facts,
    options)."""
    found = [
        *faq_candidates(p),
        *definition_candidates(p),
        *sentence_candidates(p),
        *table_candidates(p),
        *option_candidates(p),
    ]
    return [c for c in found if valid(c, p)]
