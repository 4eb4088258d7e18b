"""Patterns of edgekit.kb.span: question kinds (English and Chinese), numbers with their
units, dates, code-like tokens, and the units that fit "how long" / "how far" / "how much"."""

from __future__ import annotations

import re

from edgekit.kb.zh_markers import IDEOGRAPH

# the things a "which <type>" question about code asks for
CODE_TYPES = (
    r"command|option|flag|switch|file|filename|function|method|path|directory|folder|"
    r"variable|parameter|argument|macro|header|library|package|module|utility|program|"
    r"field|attribute|keyword|suffix|environment variable|constant|routine|extension|mime type"
)
EN_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (
            "number",
            r"\bhow (many|much|long|often|far|old|big|large|high|tall|deep|wide|fast|heavy|"
            r"few|frequently)\b|\b(what|which)\s+(?:[\w'-]+\s+){0,2}(percentage|percent|"
            r"proportion|number|amount|size|length|temperature|speed|distance|age|rate|price|"
            r"cost|fraction|share|population|total|budget|revenue|salary|income|"
            r"weight|height|depth|width|ratio|fee|tuition|endowment)s?\b",
        ),
        (
            "date",
            r"\bwhen\s+(?:was|were|is|are|did|do|does|will|would|could|can|had|has|have|"
            r"might|should)\b|\bwhen\W*$|\b(what|which) (year|date|day|month|time|century|"
            r"decade|era|period|season)s?\b",
        ),
        (
            "code",
            rf"\b(what|which)\b.*\b({CODE_TYPES})s?\b",
        ),
        (
            "name",
            r"\b(who|whom|whose)\b|\b(which|what)\s+(?:[\w-]+\s+){0,2}(person|man|"
            r"woman|people|company|organi[sz]ation|team|group|player|author|king|queen|"
            r"president|leader|name|artist|band|singer|scientist|emperor|general|coach|"
            r"university|agency|party|body|researcher|chemist|writer|physicist|philosopher|"
            r"explorer|inventor|ruler|poet|composer|architect|engineer|economist|"
            r"historian|politician|general|officer|founder|owner|\w{3,}(?:ist|ian))s?\b",
        ),
        ("place", r"\bwhere\b|\bin (what|which) (city|country|state|place|region|town)\b"),
    )
)
ZH_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("date", re.compile(r"什么时候|何时|哪年|哪一年|几月|几号|几点|哪天|哪一天|什么时间|哪个月")),
    (  # "哪个分页程序" as "which pager program": up to 3 characters between, no 的
        "code",
        re.compile(
            r"(哪个|哪些|什么|哪一个)[^，。？?\s的]{0,3}?"
            r"(命令|选项|参数|文件|函数|路径|目录|变量|字段|程序)"
        ),
    ),
    ("number", re.compile(r"多少|几|多长|多久|多大|多高|多远|多重|多深|多宽|多快")),
    ("name", re.compile(r"谁|哪位|什么人")),
    ("place", re.compile(r"哪里|哪儿|什么地方|在哪")),
)
NUM_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand million billion trillion dozen half quarter"
).split()
NUM = (
    r"(?:\d[\d,]*(?:\.\d+)?|(?:"
    + "|".join(NUM_WORDS)
    + r")(?:[\s-](?:"
    + "|".join(NUM_WORDS)
    + r"))*)"
)
# a unit or size suffix written onto the number: 256K, 4GB, 2GiB, 64k, 10ms, 5mm, 3GHz
ATTACHED_UNIT = r"(?:[KMGT]i?B?|[kmgt]B|k|ms|min|px|mm|cm|km|kg|[kMG]?Hz)"
EN_NUMBER = re.compile(
    rf"(?<![\w.])(?:(?:US|A|C)?[$£€¥]\s?)?{NUM}(?:\s*(?:-|–|to|and|or)\s*{NUM})?"
    rf"(?:\s+(?:hundred|thousand|million|billion|trillion))?(?:\s*(?:%|percent|per cent))?"
    rf"{ATTACHED_UNIT}?(?![\w])",
    re.IGNORECASE,
)
UNIT = re.compile(r"[\s-]*([A-Za-z°][A-Za-z/²³]*)")
ZH_NUMBER = re.compile(
    r"(?:百分之)?(?:[\d０-９]+(?:[.．][\d０-９]+)?[%％]?|[零〇一二三四五六七八九十百千万亿两半]{1,8})"
    r"(?:[\d０-９零〇一二三四五六七八九十百千万亿]*)"
    r"(?:个月|分钟|小时|公里|千米|毫米|厘米|平方米|立方米|千克|公斤|摄氏度|[个名位人次天年月日周秒米克吨元度倍层台项条种辆处%％])?"
)
# 一 + a classifier is most often the indefinite article ("一个窗口": a window)
ZH_ARTICLE = re.compile(r"一[个种项条位名台处层份]")
# a count written in Chinese numerals opens with a digit (十 alone: 十五); 万一, 千万 are words
ZH_NOT_A_COUNT = re.compile(r"(?!百分之)[百千万亿]")
MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan\\.|Feb\\.|Mar\\.|Apr\\.|Aug\\.|Sept?\\.|Oct\\.|Nov\\.|Dec\\."
)
DATE = re.compile(
    rf"\b(?:(?:\d{{1,2}}\s+)?(?:{MONTHS})(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+\d{{3,4}})?"
    r"|(?:the\s+)?\d{1,2}(?:st|nd|rd|th)\s+(?:century|centuries)(?:\s+(?:BC|AD|BCE|CE))?"
    r"|(?:the\s+)?(?:1\d|20)\d0s|(?:1[0-9]|20)\d\d(?:\s*(?:-|–|to)\s*\d{2,4})?"
    r"(?:\s+(?:BC|AD|BCE|CE))?|\d{1,2}:\d\d(?:\s*[ap]\.?m\.?)?"
    r"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday))\b"
)
ZH_DATE = re.compile(
    r"[\d０-９零〇一二三四五六七八九十]{2,4}年(?:[\d０-９一二三四五六七八九十]{1,2}月)?"
    r"(?:[\d０-９一二三四五六七八九十]{1,3}日)?|[\d０-９一二三四五六七八九十]{1,2}月"
    r"[\d０-９一二三四五六七八九十]{1,3}日|\d{1,2}[:：]\d\d|[每]?[日周月年天]"
)
CODE = re.compile(
    r"`[^`]+`|(?<!\w)--?[A-Za-z][\w-]*(?:=\S+)?|[\w.~-]*/[\w./~-]+|\w+\(\)"
    r"|\b[A-Za-z_][\w]*_[\w]*\b|\b[a-z]+[A-Z]\w*\b|\b[\w-]+\.(?:[a-z]{1,5}\d?)\b"
    r"|\b[A-Z][A-Z0-9_]{2,}\b|<[\w./-]+>"
)

TIME_UNITS = (
    r"(?:second|sec|minute|min|hour|hr|day|week|month|year|yr|decade|centur(?:y|ies)|"
    r"millenni(?:um|a)|h|s)s?\b|秒|分钟|小时|天|日|周|个月|月|年"
)
DIMENSIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\bhow (long|often|old|frequently)\b|多长时间|多久|多少(天|年|小时|分钟|秒)", re.I
        ),
        TIME_UNITS,
    ),
    (
        re.compile(
            r"\bhow (far|tall|high|deep|wide|big|large|heavy|fast)\b|多远|多高|多深|多宽|多重", re.I
        ),
        r"(?:m|km|cm|mm|metres?|meters?|miles?|feet|foot|ft|inch(?:es)?|kg|g|tons?|tonnes?|"
        r"pounds?|lbs?|mph|km/h|acres?|hectares?|square)\b|米|公里|千克|公斤|吨|克",
    ),
    (
        re.compile(r"\b(percent|percentage|proportion|share|fraction)\b|百分之|百分比|比例", re.I),
        r"%|％|percent|per cent|百分之",
    ),
    (
        re.compile(r"\bhow much\b|多少钱", re.I),
        r"[$£€¥%]|percent|per cent|dollars?|euros?|pounds?|元",
    ),
)

WH_WORDS = frozenset("what which who whom whose when where why how".split())
TYPE_WORDS = frozenset("type kind form sort typ".split())
DO_WORDS = frozenset("do does did".split())
MONTH_OR_DAY = re.compile(
    rf"(?:{MONTHS}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
)
QUOTED = re.compile(r"[\"“]([^\"“”]{1,40})[\"”]")

CJK_PUNCT = "，。、；：？！（）《》【】「」『』“”‘’"
# a word of a command line in Chinese text: "a|b" holds a bar, " | " (table cells) does
# not; a list marker ("- ", "* ") is none
LATIN_WORD = rf"(?![-*•](?:\s|$))[^\s|{IDEOGRAPH}{CJK_PUNCT}]+(?:\|[^\s|{IDEOGRAPH}{CJK_PUNCT}]+)*"
LATIN_RUN = re.compile(rf"{LATIN_WORD}(?: {LATIN_WORD})*")
