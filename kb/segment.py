"""Words for keyword search in mixed Chinese/English text, in one pass.

Latin-script words and numbers are lower-cased ``\\w+`` runs, as before. Runs of CJK
characters, which carry no spaces, are cut by one of two segmenters:

- ``jieba``: dictionary words (rjieba, the Rust port of jieba), in search mode: a long word
  also yields the shorter words inside it (百分之一 -> 百分, 之一, 百分之, 百分之一), so a
  question that uses a part of a compound still matches.
- ``bigram``: every pair of adjacent characters (a lone character stays itself). Needs no
  dictionary and never misses a domain term the dictionary lacks, at the cost of noise
  pairs across word edges.

Stop words (English function words, Chinese particles and question words) are dropped:
they say nothing about which passage answers. bench/kb_zh.py measures the two segmenters.
"""

from __future__ import annotations

import re
from typing import Literal

from edgekit import deps
from edgekit.bundle.answer_settings import DEFAULTS, SEGMENTERS
from edgekit.kb.zh_markers import IDEOGRAPH

Segmenter = Literal["jieba", "bigram"]
DEFAULT_SEGMENTER: Segmenter = DEFAULTS.bm25_segmenter  # type: ignore[assignment]

_CJK = IDEOGRAPH
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+", re.UNICODE)
_HAS_CJK = re.compile(rf"[{_CJK}]")

STOPWORDS = frozenset(
    "a an and are as at be but by for from has have how if in into is it its of on or "
    "that the their there these they this to was were what when where which who whom why "
    "will with does did do can could would should may might".split()
    + "的 了 是 在 和 与 及 或 等 吗 呢 吧 啊 呀 么 之 其 该 此 这 那 个 为 被 把 将 对 于 "
    "也 都 就 还 又 并 而 且 则 即 如 若 要 会 能 可 可以 应 应该 应当 需要 请问 请 "
    "什么 怎么 怎样 如何 为什么 哪些 哪个 哪里 多少 几 是否 有没有 有 没有 时 中 上 下".split()
)


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _jieba(run: str) -> list[str]:
    rjieba = deps.require("rjieba")
    return [w for w in rjieba.cut_for_search(run) if w.strip()]


def words(text: str, segmenter: Segmenter = DEFAULT_SEGMENTER) -> list[str]:
    """Lower-cased search words of ``text`` without stop words (what BM25 indexes)."""
    if segmenter not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {segmenter!r}; choose one of {SEGMENTERS}")
    cut = _jieba if segmenter == "jieba" else _bigrams
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if _HAS_CJK.match(token):
            out.extend(w for w in cut(token) if w not in STOPWORDS)
        elif token not in STOPWORDS:
            out.append(token)
    return out
