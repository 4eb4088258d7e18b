"""Chinese and mixed Chinese/English text in the knowledge base: exact words for BM25 and
exact sentence cuts on fixed strings, then md/pdf/docx made here, ingested into a real
Chroma KB and queried in Chinese in bm25 and hybrid modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.kb.chunking import chunk_text, sentences
from edgekit.kb.ingest import ingest_folder
from edgekit.kb.retrieve import terms
from edgekit.kb.store import KnowledgeBase

MIXED = "井下瓦斯浓度超过1.0%时，必须停止作业并撤出人员。CO sensor 报警"


def test_jieba_words_of_mixed_text():
    assert terms(MIXED, "jieba") == [
        "井下", "瓦斯", "浓度", "超过", "1", "0", "必须", "停止", "作业", "撤出", "人员",
        "co", "sensor", "报警",
    ]  # fmt: skip
    # search mode: the parts of a compound are words too; question words are stop words
    # a term the dictionary lacks (自救器) is cut where jieba's statistics say
    assert terms("自救器能用多少分钟？", "jieba") == ["自救", "器能", "用", "分钟"]
    assert terms("What is the CH4 limit?", "jieba") == ["ch4", "limit"]


def test_bigram_words_of_mixed_text():
    assert terms("瓦斯浓度 CH4 的上限", "bigram") == ["瓦斯", "斯浓", "浓度", "ch4", "的上", "上限"]
    assert terms("煤", "bigram") == ["煤"]


def test_unknown_segmenter_is_refused():
    with pytest.raises(ValueError, match="jieba"):
        terms("瓦斯", "spaces")  # type: ignore[arg-type]


def test_chinese_sentences_end_at_chinese_punctuation():
    text = (
        "第一条 瓦斯浓度达到1.0%时，必须停止作业。人员应撤出！是否报告？需要……立即报告；"
        "Check the CO level. 完毕"
    )
    got = [text[s.start : s.end] for s in sentences(text)]
    assert got == [
        "第一条 瓦斯浓度达到1.0%时，必须停止作业。",
        "人员应撤出！",
        "是否报告？",
        "需要……",
        "立即报告；",
        "Check the CO level.",
        "完毕",
    ]


def test_a_long_chinese_sentence_is_cut_between_characters():
    text = "瓦斯" * 150  # no punctuation, no spaces: one 300-character "sentence"
    spans = chunk_text(text, len, max_tokens=100, overlap_tokens=0)
    assert [s.end - s.start for s in spans] == [100, 100, 100]


# ---- real KB ------------------------------------------------------------------------------
GAS = """# 瓦斯检查

## 第一条 检查周期

采掘工作面的瓦斯浓度每班至少检查三次。瓦斯浓度达到1.0%时，必须停止用电钻打眼。

## 第二条 超限处理

回风流中瓦斯浓度超过1.5%时，必须停止工作，撤出人员，切断电源，进行处理。
"""

ROOF = [
    ("第三章 顶板支护", 18),
    ("工作面必须及时支护顶板，空顶距离不得超过作业规程的规定。", 11),
    ("发现顶板离层或片帮时，应立即停止作业并敲帮问顶。", 11),
]

RESCUER = [
    ("自救器使用", "Heading 1"),
    ("每名入井人员必须随身携带自救器（SCSR），压缩氧自救器的防护时间不少于30分钟。", None),
    ("发生火灾或瓦斯爆炸时，应立即佩戴自救器，沿避灾路线撤离。", None),
]


def make_pdf(path: Path) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path))
    y = 760
    for line, size in ROOF:
        c.setFont("STSong-Light", size)
        c.drawString(72, y, line)
        y -= 30
    c.save()


def make_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    for text, style in RESCUER:
        d.add_paragraph(text, style=style) if style else d.add_paragraph(text)
    d.save(str(path))


@pytest.fixture(scope="module")
def kb_zh(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    docs = tmp_path_factory.mktemp("zh-docs")
    (docs / "gas.md").write_text(GAS, encoding="utf-8")
    make_pdf(docs / "roof.pdf")
    make_docx(docs / "rescuer.docx")
    db = tmp_path_factory.mktemp("zh-kb") / "kb"
    kbase, report = ingest_folder(docs, db, prefix="docs/", chunk_tokens=64, overlap_tokens=16)
    assert not report.errors and len(report.added) == 3
    return kbase


QUESTIONS = [
    ("回风流瓦斯超过多少要撤人？", "docs/gas.md"),
    ("瓦斯浓度多久检查一次？", "docs/gas.md"),
    ("顶板离层怎么办？", "docs/roof.pdf"),
    ("压缩氧自救器能用多长时间？", "docs/rescuer.docx"),
    ("SCSR 是什么？", "docs/rescuer.docx"),
]


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
@pytest.mark.parametrize("question,source", QUESTIONS)
def test_chinese_question_finds_its_document(kb_zh, question: str, source: str, mode: str):
    hits = kb_zh.query(question, k=3, mode=mode)
    assert hits, f"no {mode} hit for {question}"
    assert hits[0].source == source, [(h.source, h.text[:30]) for h in hits]


@pytest.mark.parametrize("segmenter", ["jieba", "bigram"])
def test_no_zero_bm25_hits_when_a_term_is_shared(kb_zh, segmenter: str):
    kb_zh.segmenter = segmenter
    try:
        for question, _ in QUESTIONS:
            assert kb_zh.query(question, k=3, mode="bm25"), (segmenter, question)
    finally:
        kb_zh.segmenter = "jieba"


def test_evidence_sentence_of_a_chinese_answer(kb_zh):
    """The quote/extract prompt styles answer with this sentence: Chinese sentences (no
    spaces between words) must be candidates too."""
    from edgekit.kb.evidence import best_sentence

    question = "压缩氧自救器能用多长时间？"
    found = best_sentence(question, kb_zh.query(question, k=3), kb_zh.embedder)
    assert found is not None and "30分钟" in found.sentence, found
    assert found.excerpt == 1
