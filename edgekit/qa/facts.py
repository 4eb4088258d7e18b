"""Text helpers for the question rules: concrete fact spans, sentences, short key phrases.

A *fact* is a span a worker could be asked for and checked on exactly: a duration ("36
hours"), a frequency ("every 30 days"), a percentage ("1.0 %"), a quantity with a unit
("0.3 m3/s", "20 people"), a time of day, a date, an amount of money, a phone number or a
code ("radio channel 1", "SOP-014").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_RANGE = rf"{_NUM}(?:\s?(?:-|–|to)\s?{_NUM})?"
_TIME_UNIT = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|shifts?)"
_NUM_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|forty-five|fifty|sixty|ninety)"
)
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)"
)
# unit as written -> how a question says it ("how many metres")
UNITS: dict[str, str] = {
    "ppm": "ppm",
    "ppb": "ppb",
    "mg/m3": "mg/m3",
    "m3/s": "m3/s",
    "m3/min": "m3/min",
    "m/s": "m/s",
    "km/h": "km/h",
    "mph": "mph",
    "kW": "kW",
    "MW": "MW",
    "kWh": "kWh",
    "kV": "kV",
    "V": "volts",
    "Hz": "Hz",
    "MPa": "MPa",
    "kPa": "kPa",
    "bar": "bar",
    "psi": "psi",
    "mm": "millimetres",
    "cm": "centimetres",
    "km": "kilometres",
    "m2": "square metres",
    "m3": "cubic metres",
    "m": "metres",
    "metres": "metres",
    "meters": "meters",
    "kilometres": "kilometres",
    "millimetres": "millimetres",
    "kg": "kilograms",
    "mg": "milligrams",
    "g": "grams",
    "t": "tonnes",
    "tonnes": "tonnes",
    "tons": "tons",
    "L": "litres",
    "litres": "litres",
    "liters": "liters",
    "mL": "millilitres",
    "°C": "degrees",
    "deg C": "degrees",
    "degrees": "degrees",
    "°F": "degrees",
    "dB(A)": "dB(A)",
    "dBA": "dBA",
    "dB": "decibels",
    "lux": "lux",
    "people": "people",
    "persons": "persons",
    "workers": "workers",
    "employees": "employees",
    "visitors": "visitors",
}
_UNIT_RE = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_TIME_OF_DAY = r"\d{1,2}:\d{2}(?:\s?(?:am|pm|AM|PM))?"

# (type, pattern); on overlap the longer span wins, then the earlier pattern
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "frequency",
        re.compile(
            rf"\b(?:(?:once|twice|at least once) )?(?:every|each) (?:other )?"
            rf"(?:{_RANGE} |{_NUM_WORD} )?{_TIME_UNIT}\b"
            r"|\b(?:(?:before|after|at|by) )?(?:the (?:start|end|beginning) of )?"
            r"(?:every|each) (?:shift|use)\b"
            r"|\b(?:hourly|daily|weekly|fortnightly|monthly|quarterly|annually|yearly)\b",
            re.IGNORECASE,
        ),
    ),
    ("duration", re.compile(rf"\b(?:{_RANGE}|{_NUM_WORD})[ -]{_TIME_UNIT}\b", re.IGNORECASE)),
    ("percent", re.compile(rf"\b{_RANGE}\s?(?:%|percent\b|per cent\b)")),
    ("quantity", re.compile(rf"\b{_RANGE}\s?(?:{_UNIT_RE})(?![\w/])")),
    (
        "time",
        re.compile(
            rf"\b{_TIME_OF_DAY}(?: (?:and|to|or) {_TIME_OF_DAY})?(?![\d:])"
            r"|\b\d{1,2}\s?(?:am|pm|a\.m\.|p\.m\.)(?!\w)"
        ),
    ),
    ("date", re.compile(rf"\b\d{{1,2}} {_MONTH} \d{{4}}\b|\b{_MONTH} \d{{1,2}},? \d{{4}}\b")),
    (
        "money",
        re.compile(
            r"[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion)\b)?"
            r"|\b\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|AUD|dollars|euros|pounds)\b"
        ),
    ),
    (
        "phone",
        re.compile(
            r"(?<![\w.,])(?:\+\d{1,3}[ -]?)?(?:\(\d{2,4}\)[ -]?)?\d{3,4}[ -]\d{3,4}(?![\w.,])"
        ),
    ),
    (
        "code",
        re.compile(
            r"\b(?:(?:radio|phone|telephone) )?(?:channel|extension|ext\.) ?\d[\d-]*\b"
            r"|\b[A-Z]{2,6}-\d{1,6}[A-Z]?\b"
        ),
    ),
)
FACT_TYPES = tuple(name for name, _ in _PATTERNS)


@dataclass(frozen=True)
class Fact:
    start: int
    end: int
    text: str
    type: str


def find_facts(text: str) -> list[Fact]:
    """Non-overlapping fact spans in reading order."""
    found = [
        (m.start(), -(m.end() - m.start()), rank, m.end(), kind)
        for rank, (kind, pattern) in enumerate(_PATTERNS)
        for m in pattern.finditer(text)
    ]
    facts: list[Fact] = []
    for start, _, _, end, kind in sorted(found):
        if facts and start < facts[-1].end:
            continue
        facts.append(Fact(start, end, text[start:end], kind))
    return facts


def wh_phrase(fact: Fact) -> str:
    """What replaces the fact in a question: "how many hours", "what percentage", ..."""
    text = fact.text
    if fact.type == "duration":
        unit = re.split(r"[ -]", text)[-1].lower().rstrip("s")
        unit = {"min": "minute", "sec": "second", "hr": "hour"}.get(unit, unit)
        return f"how many {unit}s"
    if fact.type == "quantity":
        unit = next(u for u in sorted(UNITS, key=len, reverse=True) if text.endswith(u))
        return f"how many {UNITS[unit]}"
    if fact.type == "code":
        label = re.match(r"[a-zA-Z. ]*(?:channel|extension|ext\.)", text)
        return f"what {label.group().lower()}" if label else "what code"
    return {
        "frequency": "how often",
        "percent": "what percentage",
        "time": "what time",
        "date": "what date",
        "money": "how much",
        "phone": "what number",
    }[fact.type]


# question wording -> fact types that answer it, best first
_WANTED: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (
        re.compile(r"\bhow (?:long|many (?:seconds|minutes|hours|days|weeks|months|years))\b"),
        ("duration", "frequency"),
    ),
    (re.compile(r"\bhow (?:often|frequently)\b"), ("frequency", "duration")),
    (re.compile(r"\bwhat times?\b|\bwhen does\b.*\b(?:open|close|start|finish)"), ("time",)),
    (
        re.compile(r"\b(?:phone|telephone|extension|channel|number to call|code)\b"),
        ("code", "phone"),
    ),
    (re.compile(r"\b(?:cost|price|fee|fees|charge|pay)\b"), ("money",)),
    (
        re.compile(
            r"\bhow (?:much|many|far|fast|high|deep|big|heavy|hot|cold|wide|close)\b|\b(?:percent|"
            r"percentage|level|concentration|limit|limits|temperature|speed|distance|pressure|"
            r"rating|capacity|weight|size|length|width|height|depth|minimum|maximum)\b"
        ),
        ("percent", "quantity", "money"),
    ),
    (re.compile(r"^when\b"), ("date", "time", "frequency", "duration")),
)


def wanted_types(question: str) -> tuple[str, ...]:
    """The fact types a question asks for: "How long ...?" -> durations (then frequencies)."""
    q = question.lower()
    return next((types for pattern, types in _WANTED if pattern.search(q)), ())


_ABBREV = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|approx|No|no|Fig|fig|vs|Mr|Mrs|Ms|Dr|St|Ext|ext|min|max|a\.m|p\.m)"
    r"|\b[A-Z])\.$"
)
_BOUNDARY = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“‘(]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences of each line of ``text`` (lines are never joined), stripped, non-empty."""
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        start = 0
        for m in _BOUNDARY.finditer(line):
            head = line[start : m.start()]
            if _ABBREV.search(head):
                continue
            end = m.start() + len(m.group().rstrip())
            out.append(line[start:end].strip())
            start = m.end()
        if line[start:].strip():
            out.append(line[start:].strip())
    return out


_CUT_BEFORE = frozenset(
    "and or but except unless which who whose that because so when while where if although "
    "until including then".split()
)
_CUT_BEFORE_WEAK = frozenset(
    "in on at for from to with by of after before during over under into through across "
    "between within without as".split()
)


def trim_phrase(text: str, max_words: int = 10, min_words: int = 3) -> str | None:
    """The leading key phrase of ``text`` in at most ``max_words`` words, cut at a clause
    boundary (a comma, a conjunction, then a preposition); None when no clean cut exists.
    Never cuts inside quotes or brackets. The result is a verbatim prefix of ``text``."""
    text = text.strip().rstrip(".!;:,").strip()
    words = text.split()
    if len(words) <= max_words:
        return text or None
    strong: list[int] = []
    weak: list[int] = []
    quoted, paren = False, 0
    for i in range(1, max_words + 1):
        prev = words[i - 1]
        quoted ^= sum(prev.count(c) for c in '"“”') % 2 == 1
        paren += prev.count("(") - prev.count(")")
        if quoted or paren > 0:
            continue
        nxt = words[i].lower().strip('"“(')
        if prev[-1] in ",;:":
            strong.append(i)
        elif nxt in _CUT_BEFORE:  # "from which", "so that": cut before "from", "so"
            joined = prev.lower() in _CUT_BEFORE_WEAK or prev.lower() in _CUT_BEFORE
            strong.append(i - 1 if joined else i)
        elif nxt in _CUT_BEFORE_WEAK:
            weak.append(i)
    strong = [i for i in strong if i >= min_words]
    weak = [i for i in weak if i >= min_words]
    if strong and max(strong) >= 5:
        cut = max(strong)
    elif strong or weak:
        cut = max(strong + weak)
    else:
        return None
    return " ".join(words[:cut]).rstrip(",;:")


class Names(NamedTuple):
    """How a document capitalises words (lower-cased keys), to write its words mid-sentence."""

    proper: frozenset[str]  # capitalised mid-sentence, never lower case: "karra", "room"
    capitalised: frozenset[str]  # capitalised mid-sentence at least once: also "main", "red"


NO_NAMES = Names(frozenset(), frozenset())


def document_names(text: str) -> Names:
    capital = {w.lower() for w in re.findall(r"(?<=[a-z,] )[A-Z][a-z][\w'-]*", text)}
    lower = set(re.findall(r"\b[a-z][\w'-]*", text))
    return Names(frozenset(capital - lower), frozenset(capital))


_DETERMINERS = frozenset(
    "a an the each every all any no one some this these those in on at for if when after "
    "before during by".split()
)


def _keeps_case(word: str, proper: frozenset[str]) -> bool:
    """An acronym ("TWA"), a mixed-case word, "I", or one of ``proper``."""
    bare = word.strip('"“(),.:;')
    if len(bare) == 1:
        return bare == "I" or not bare.isalpha()
    return not bare[:1].isupper() or not bare[1:].islower() or bare.lower() in proper


def lower_start(text: str, names: Names) -> str:
    """Lower-case the first letter for use mid-sentence, unless the first word is a name, an
    acronym or starts a Title Case name the document uses ("Main Fan 1"; but "Get Control
    Room approval" and "Each Karra Ridge chamber" are lowered)."""
    words = text.split(" ", 2)
    first = words[0]
    if not first[:1].isupper():
        return text
    if first.lower() not in _DETERMINERS:
        if _keeps_case(first, names.proper):
            return text
        if len(words) > 1 and words[1][:1].isupper() and first.lower() in names.capitalised:
            return text
    return first[0].lower() + text[1:]


def common_name(term: str, names: Names) -> str:
    """A term as it reads mid-sentence: "Intake air" -> "intake air", "Low Alarm" -> "low
    alarm"; "TWA", "Karra Ridge", "Emergency Coordinator" (names here) keep their capitals."""
    words = term.split()
    capitals = [w for w in words if w[:1].isupper()]
    if not capitals or any(_keeps_case(w, names.proper) for w in capitals):
        return term
    if len(capitals) > 1 and any(w.lower() in names.capitalised for w in capitals):
        return term  # a Title Case name the document uses mid-sentence
    return " ".join(w.lower() if w[:1].isupper() else w for w in words)


def question_key(question: str) -> str:
    """A question normalised for matching: lower case, words only."""
    return " ".join(re.findall(r"\w+", question.lower()))


def normalize(text: str) -> str:
    """Lower-case, punctuation to spaces (keeping %), whitespace collapsed: for matching."""
    return " ".join(re.sub(r"[^\w%]+", " ", text.lower()).split())


def contains_normalized(haystack: str, needle: str) -> bool:
    """Whole-word containment of ``needle`` in ``haystack`` after :func:`normalize`."""
    n = normalize(needle)
    return bool(n) and f" {n} " in f" {normalize(haystack)} "
