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
