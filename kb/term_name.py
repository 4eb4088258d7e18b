"""An answer that is the term a definition-list line defines.

Manuals list options, environment variables and configuration directives as a term and
its text on one line ("-c, --create: 此选项强制 mandb 删除以前的数据库并重新生成数据库",
"MAN_DISABLE_SECCOMP: …", "-b, --benchmark perform a benchmark"); the question "mandb 的
哪个选项会删除以前的数据库并重新生成？" / "Which option of mandb rebuilds the database?" is
answered by the term, not by a span of its text. :func:`term_name` gives the term when

- the question asks which option (flag, switch, parameter, setting, variable, directive,
  key, field; 选项, 参数, 环境变量, 变量, 指令, 配置项, 设置) does something;
- the line holding the sentence opens with a term followed by ':' / '：' (a list marker
  before it is dropped), or with flags alone ("-b, --benchmark perform ..."), of at most
  six words, one of them code-like: a flag (``-c``, ``--create``), an upper-case
  identifier (``SECTION``, ``MAN_DISABLE_SECCOMP``), a name with '_' or '.';
- the question does not name the term already ("mandb 的 -t 选项做什么？" asks what it does).

The other way round, :func:`defines_named_term` tells the sentence that opens the line of
a term the question names when the question asks what the term does or means ("What does
the -b option of asn1Decoding do?", "mandb 的 -t 选项做什么？", "MANWIDTH 表示什么？"):
the evidence reader prefers it, and it needs no more of the question's words than the
term (the question's other words are the program's name, "option").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ASKS = re.compile(
    r"\b(?:which|what)\s+(?:[\w-]+\s+){0,2}?(?:option|flag|switch|parameter|setting|"
    r"variable|directive|key|field)s?\b",
    re.IGNORECASE,
)
_ASKS_ZH = re.compile(r"(?:哪个|哪一个|哪些|什么)(?:选项|参数|环境变量|变量|指令|配置项|设置|字段)")
# asks what a named thing does or means
_DOES = re.compile(
    r"^\s*what\b.*\b(?:do|does|mean|means|stand\s+for|for)\s*\??\s*$"
    r"|\b(?:purpose|effect|meaning|function)\s+of\b",
    re.IGNORECASE,
)
_DOES_ZH = re.compile(
    r"做什么|干什么|什么作用|的作用|有何作用|什么意思|表示什么|用于什么|用来做什么|有什么用|用途|什么功能"
)
_TERM_LINE = re.compile(r"^\s*(?:[-*•]\s+)?(?P<term>[^:：]{1,60}?)\s*[:：]\s+\S")
# an option table's line without a colon: "-b, --benchmark perform a benchmark on decoding"
_FLAG = r"--?[A-Za-z0-9?][\w-]*(?:=\S+)?"
_FLAGS_LINE = re.compile(rf"^\s*(?:[-*•]\s+)?(?P<term>{_FLAG}(?:,\s*{_FLAG})*)\s+\S")
_CODE = re.compile(r"^--?[A-Za-z0-9?]|^\$?[A-Z][A-Z0-9_]{2,}$|\w[_.]\w")
MAX_WORDS = 6


def asks_for_term(question: str) -> bool:
    """The question asks which option, variable, directive ... does something."""
    return bool(_ASKS.search(question) or _ASKS_ZH.search(question))


def line_term(line: str) -> str | None:
    """The term a definition-list line opens with (see the module docstring), else None."""
    m = _TERM_LINE.match(line) or _FLAGS_LINE.match(line)
    if m is None:
        return None
    term = m.group("term").strip()
    words = term.replace(",", " ").split()
    if not 1 <= len(words) <= MAX_WORDS or not any(_CODE.search(w) for w in words):
        return None
    return term


def defines_named_term(question: str, sentence: str) -> bool:
    """Whether ``sentence`` opens the definition-list line of a term ``question`` names
    (a code-like word of it, as a whole word) and the question asks what it does."""
    if not (_DOES.search(question) or _DOES_ZH.search(question)) or asks_for_term(question):
        return False
    term = line_term(sentence)
    codes = [w for w in (term or "").replace(",", " ").split() if _CODE.search(w)]
    return any(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", question) for w in codes)


def term_name(question: str, sentence: str, texts: Iterable[str]) -> str | None:
    """The term of the definition-list line holding ``sentence`` in one of ``texts`` (the
    excerpts) when it answers ``question``; None otherwise."""
    flat_sentence = " ".join(sentence.split())
    if not flat_sentence or not asks_for_term(question):
        return None
    for text in texts:
        at = " ".join(text.split()).find(flat_sentence)
        if at < 0:
            continue
        term = line_term(_line_at(text, at))
        codes = [w for w in (term or "").replace(",", " ").split() if _CODE.search(w)]
        if term and not any(w in question for w in codes):
            return term
        return None
    return None


def _line_at(text: str, at: int) -> str:
    """The line of ``text`` holding position ``at`` of its whitespace-flattened form
    (" ".join(text.split()): its non-blank lines, each flattened, joined by one space)."""
    end = -1
    line = ""
    for line in (ln for ln in text.splitlines() if ln.split()):
        end += len(" ".join(line.split())) + 1
        if at <= end:
            return line
    return line
