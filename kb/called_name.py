"""An answer that is the name a sentence gives something ("... (称为 cat 页面)", "... are
called cat pages").

"catman 创建的预格式化手册页叫什么？" / "What are the preformatted pages catman creates
called?" is answered by the words after the naming marker of "catman 用于创建最新的预格式化
手册页集合(称为 cat 页面)。", not by a run of words the question does not hold (which picks
"更新" out of the NAME line "catman - 创建或更新预格式化的手册页"). :func:`called_name`
gives that name's place in the sentence when

- the question asks what something is called (叫什么, 叫做什么, 称为什么, 什么名字; "what
  is/are ... called", "known as what");
- the sentence names something with a marker (称为, 称作, 叫做, 叫作, 简称; "called",
  "known as", "termed", "referred to as") followed by at most eight words before a
  closing bracket or punctuation.
"""

from __future__ import annotations

import re

from edgekit.kb.chunking import sentence_words

_ASKS = re.compile(
    r"叫什么|叫做什么|叫作什么|称为什么|称作什么|什么名字|名称是什么"
    r"|\bwhat\s+(?:is|are|was|were)\b.*\bcalled\b|\bknown\s+as\s+what\b|\bwhat\s+name\b",
    re.IGNORECASE,
)
_MARKER = re.compile(
    r"(?:被)?(?:称为|称作|叫做|叫作|简称)|\b(?:called|known\s+as|termed|referred\s+to\s+as)\b",
    re.IGNORECASE,
)
_OPEN = " \t\"'“‘「『《:："
_END = re.compile(r"[)）\]】,，。；;!?！？、\"”’」』》]|\.(?:\s|$)|\s(?:and|or|which|that)\s")
MAX_WORDS = 8


def called_name(question: str, sentence: str) -> tuple[int, int] | None:
    """(start, end) in ``sentence`` of the name it gives after a naming marker, when the
    question asks what something is called; None otherwise."""
    if not _ASKS.search(question):
        return None
    for marker in _MARKER.finditer(sentence):
        start = marker.end()
        while start < len(sentence) and sentence[start] in _OPEN:
            start += 1
        end_at = _END.search(sentence, start)
        end = end_at.start() if end_at else len(sentence)
        while end > start and sentence[end - 1].isspace():
            end -= 1
        if end > start and sentence_words(sentence[start:end]) <= MAX_WORDS:
            return start, end
    return None
