"""Split section text into chunks sized in embedder tokens, on sentence boundaries."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from edgekit.kb.records import ROW_SEP
from edgekit.kb.zh_markers import IDEOGRAPH

# A sentence ends at . ! ? (optionally followed by a quote/bracket) before whitespace; at
# Chinese 。！？；… (the last of a run, then any closing quote/bracket; no space follows
# them in Chinese); or at a line break (list items, table rows and paragraphs are units of
# their own); and before an entry of an option list run into one line ("-b, --benchmark
# perform a benchmark on decoding -s, --strict use strict DER decoding": a PDF's table).
_CJK_END = "。！？；…"
_CJK_CLOSE = "”’」』）》】\"')"
_BOUNDARY = re.compile(
    rf"(?<=[.!?])[\"')\]]*\s+"
    rf"|(?<=[{_CJK_END}])(?![{_CJK_END}])[{_CJK_CLOSE}]*\s*"
    r"|\n+"
    r"|(?<=[^\s*•-])\s+(?=-[A-Za-z0-9?],\s--[A-Za-z][\w-]*\b)"
)
# A full stop after one of these does not end a sentence ("the top-level media type (e.g.
# "video") and ...", "(i.e. the default)"); the second group only before a number ("see
# Fig. 3", "No. 4", "(p. 12)"), the third only before a capital ("Dr. Li"), "etc." only before a
# lower-case word (it often ends a sentence); a name's initial before a capital (_INITIAL)
_ABBREVIATION = re.compile(
    r"(?:^|[\s(\[\"'])(?:(?P<always>e\.g|i\.e|cf|vs|viz|approx|incl|resp)"
    r"|(?P<number>fig|figs|eq|no|nos|vol|p|pp|sec|art|para)"
    r"|(?P<title>mr|mrs|ms|dr|prof|st)|(?P<etc>etc))\.$",
    re.IGNORECASE,
)
# a name's initial ("John W. Eaton", "G. Wilford"): one capital letter, before a capital
_INITIAL = re.compile(r"(?:^|[\s(])[A-Z]\.$")
# Where an over-long sentence may be cut: a space-separated word, or one CJK character
_PIECE = re.compile(rf"[{IDEOGRAPH}]|[^\s{IDEOGRAPH}]+")
_CJK_CHAR = re.compile(f"[{IDEOGRAPH}]")
READABLE_WORDS = 80  # a "sentence" longer than this is no sentence a reader quotes
_WORD = re.compile(r"\S+")
_CAPITALISED = re.compile(r"[A-Z][a-z]+")


@dataclass(frozen=True)
class Span:
    """A chunk as character offsets into its section's text."""

    start: int
    end: int


def sentences(text: str) -> list[Span]:
    """Sentence spans of ``text`` (offsets into it), whitespace between them excluded."""
    spans: list[Span] = []
    pos = 0
    for m in _BOUNDARY.finditer(text):
        if _abbreviated(text, m):
            continue
        if m.start() > pos and text[pos : m.start()].strip():
            spans.append(Span(pos, m.start()))
        pos = m.end()
    if pos < len(text) and text[pos:].strip():
        spans.append(Span(pos, len(text)))
    return spans


def readable_pieces(sentence: str) -> list[str]:
    """``sentence`` as pieces a reader can quote: itself when it has at most
    :data:`READABLE_WORDS` words, else cut where prose starts again after a token holding no
    letters (a hex dump or a table extracted from a PDF runs into the sentence after it)."""
    if sentence_words(sentence) <= READABLE_WORDS:
        return [sentence]
    tokens = list(_WORD.finditer(sentence))
    cuts = [0, len(sentence)]
    for before, token in zip(tokens, tokens[1:]):
        if _CAPITALISED.fullmatch(token.group()) and not re.search("[A-Za-z]", before.group()):
            cuts.insert(-1, token.start())  # "|.| The magic-deleteall attribute ..."
    return [sentence[a:b].strip() for a, b in zip(cuts, cuts[1:]) if sentence[a:b].strip()]


def sentence_words(text: str) -> int:
    """Length in words: space-separated words, and two Chinese characters count as one
    (Chinese has no spaces; its words are mostly two characters long)."""
    cjk = len(_CJK_CHAR.findall(text))
    return len(_CJK_CHAR.sub(" ", text).split()) + cjk // 2


def _abbreviated(text: str, boundary: re.Match[str]) -> bool:
    """Whether the full stop before ``boundary`` follows an abbreviation (_ABBREVIATION)
    on the same line, so the sentence goes on."""
    if "\n" in boundary.group() or not text[: boundary.start()].endswith("."):
        return False
    before = text[max(0, boundary.start() - 12) : boundary.start()]
    following = text[boundary.end() : boundary.end() + 1]
    if _INITIAL.search(before):
        return following.isupper()
    m = _ABBREVIATION.search(before)
    if m is None:
        return False
    if m.group("number"):
        return following.isdigit()
    if m.group("title"):
        return following.isupper()
    if m.group("etc"):
        return following.islower()
    return True


def _hard_split(text: str, span: Span, count: Callable[[str], int], max_tokens: int) -> list[Span]:
    """Split one over-long sentence between words or Chinese characters (only when there
    is no other way)."""
    out: list[Span] = []
    words = [m.span() for m in _PIECE.finditer(text[span.start : span.end])]
    begin = 0
    while begin < len(words):
        end = begin + 1
        while end < len(words):
            piece = text[span.start + words[begin][0] : span.start + words[end][1]]
            if count(piece) > max_tokens:
                break
            end += 1
        out.append(Span(span.start + words[begin][0], span.start + words[end - 1][1]))
        begin = end
    return out


CHUNK_TOKENS = 200  # chunk size in embedder tokens (the config's kb.chunk_tokens default)
OVERLAP_TOKENS = 40  # tokens of whole sentences repeated between consecutive chunks
TABLE_SHARE = 2  # a table up to this many chunk sizes is kept whole, in a chunk of its own


def chunk_text(
    text: str,
    count: Callable[[str], int],
    max_tokens: int = CHUNK_TOKENS,
    overlap_tokens: int = OVERLAP_TOKENS,
) -> list[Span]:
    """Greedy sentence packing up to ``max_tokens``; consecutive chunks share up to
    ``overlap_tokens`` of whole sentences. Sentences are only cut when one alone is too long.
    """
    if max_tokens <= 0 or overlap_tokens < 0 or overlap_tokens >= max_tokens:
        raise ValueError("need 0 <= overlap_tokens < max_tokens")
    units: list[Span] = []
    for s in sentences(text):
        if count(text[s.start : s.end]) > max_tokens:
            units.extend(_hard_split(text, s, count, max_tokens))
        else:
            units.append(s)
    sizes = [count(text[u.start : u.end]) for u in units]
    opens = _table_openings(text, units)
    chunks: list[Span] = []
    i = 0
    while i < len(units):
        total, j = sizes[i], i + 1
        table = opens[i] == i and _table_fits(opens, sizes, i, max_tokens)
        while j < len(units) and (total + sizes[j] <= max_tokens or table and opens[j] == i):
            total += sizes[j]
            j += 1
        whole = j < len(units) and i < opens[j] < j
        if whole and _table_fits(opens, sizes, opens[j], max_tokens):
            chunks.append(Span(units[i].start, units[opens[j] - 1].end))
            i = opens[j]  # a table that fits one chunk is not cut: it starts the next
            continue
        chunks.append(Span(units[i].start, units[j - 1].end))
        if j >= len(units):
            break
        if table and total > max_tokens:  # a whole table over the size: no overlap after it
            i = j
            continue
        # step back over whole sentences for the overlap, but always move forward
        back, k = 0, j
        while k - 1 > i and back + sizes[k - 1] <= overlap_tokens:
            k -= 1
            back += sizes[k]
        i = opens[k] if i < opens[k] < k else k  # nor does a chunk start inside one
    return chunks


def _table_openings(text: str, units: list[Span]) -> list[int]:
    """For each unit, the unit that opens its table: for a table row (cells joined by
    ROW_SEP, kb.loaders), the sentence before the table's first row (its caption); for
    any other unit, itself."""
    opens = list(range(len(units)))
    for n in range(1, len(units)):
        if ROW_SEP in text[units[n].start : units[n].end]:
            opens[n] = opens[n - 1]
    return opens


def _table_fits(opens: list[int], sizes: list[int], first: int, max_tokens: int) -> bool:
    """Whether the table opened by unit ``first`` (caption and rows) fits one chunk of up
    to TABLE_SHARE times the chunk size (a table cut in two loses its caption in the
    second half: a real manual's 9-row section table was about 1.2 chunks)."""
    end = first + 1
    while end < len(opens) and opens[end] == first:
        end += 1
    return sum(sizes[first:end]) <= TABLE_SHARE * max_tokens
