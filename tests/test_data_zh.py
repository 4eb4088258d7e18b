"""Data rules on Chinese documents: 问/答 FAQs, 第X章/第X条/一、 headings, 术语：定义 lines.

Every fixture is a fixed string written here; the expected pairs are exact. An English
document gives what it gave before the Chinese rules existed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from edgekit.data.build import cut_at_sentence, split_parts
from edgekit.data.rules import (
    BUILTIN_RULES,
    Rule,
    definitions,
    faq,
    heading_section,
    title_body,
)
from edgekit.init import init_project
from edgekit.kb.loaders import Document, load_document
from edgekit.kb.pdf_layout import PageText, page_events

Triple = tuple[str, str, str]  # (question, answer, heading path of the section it came from)

FAQ_TXT = """\
新员工最常问的问题如下。

问：井下发生火灾时应该怎么办？
答：立即佩戴自救器，沿避灾路线撤到进风流中，
并向调度室报告。

问题：自救器的额定防护时间是多久？
回答：ZH30 化学氧自救器的额定防护时间为 30 分钟。

Q：瓦斯浓度达到多少时必须停止作业？A：采掘工作面风流中甲烷浓度达到 1.5% 时，必须停止工作。

问: 矿灯不亮了能自己修吗?
答: 不能。应停止作业，由同班人员陪同撤到有照明的地点。

1. 新工人培训多少学时才能下井？
新上岗的井下作业人员安全培训时间不少于 72 学时。

这一段不是任何问题的答案。

2、CO 报警器的报警浓度是多少？
CO 报警器（carbon monoxide alarm）的报警浓度为 24 ppm。
"""

REGULATION_TXT = """\
本规定适用于红岭煤矿的井下作业。

第一章 总则

第一条 为了加强煤矿安全生产工作，防止煤矿事故，制定本规定。

第二条　本规定所称煤矿企业，是指依法从事煤炭生产的企业。

第二章 通风

第一节 一般规定

第三条 矿井必须采用机械通风。
主要通风机必须安装在地面。
第四条 依照第三条规定执行。

一、局部通风
（一）局部通风机
局部通风机必须安装在进风巷道中，距回风口不得小于 10 米。
"""

DEFINITIONS_MD = """\
# 术语和定义

- 瓦斯：是指矿井中以甲烷为主的有害气体。
- 采空区，指采煤以后不再维护的空间。
- “局部通风机”系指向井下局部地点供风的通风机。
1. 煤尘是指颗粒直径小于 1 毫米的煤炭颗粒；
（二）CO 报警器（carbon monoxide alarm）是指检测一氧化碳浓度并报警的仪器。
**自救器**：入井人员随身携带的呼吸保护装置。
注意：进入采空区前必须检查瓦斯浓度。
1. 打开外壳：拉开封印条，取下上盖。
该仪器是指上述报警器。
"""

MIXED_MD = """\
# 监测监控

## Gas monitoring 系统

井下安装 KJ 型安全监控系统（safety monitoring system），CH4 传感器的报警浓度为 1.0%。

Methane: 甲烷，无色无味的可燃气体，是瓦斯的主要成分。

CO sensor（一氧化碳传感器）是指连续监测一氧化碳浓度的传感器。

## Sensor calibration

Sensors are calibrated every 15 days with standard gas.
"""

# tests/test_train.py's English document; the pairs below are what the rules gave for it
# before they read Chinese (checked against the code before this change).
ENGLISH_MD = """# Ventilation Handbook

This handbook explains how air moves through the mine.

## Main Fans

The main fans run all the time. They are checked every shift.

**Regulator**: a door with an opening that controls airflow into a district.

## Q: What happens when a fan stops?

Everyone leaves the heading and reports to the control room.
"""


def _doc(tmp_path: Path, name: str, text: str) -> Document:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_document(path)


def _triples(rule: Rule, doc: Document) -> list[Triple]:
    """The rule's pairs, each with the heading path of the section it came from."""
    out = []
    for s in doc.sections:
        for q, a in rule(replace(doc, sections=(s,))):
            out.append((q, a, " > ".join(s.heading_path)))
    return out


def test_chinese_faq_gives_the_expected_pairs(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "常见问题.txt", FAQ_TXT)
    root = "常见问题"
    assert _triples(faq, doc) == [
        (
            "井下发生火灾时应该怎么办？",
            "立即佩戴自救器，沿避灾路线撤到进风流中，并向调度室报告。",
            root,
        ),
        ("自救器的额定防护时间是多久？", "ZH30 化学氧自救器的额定防护时间为 30 分钟。", root),
        (
            "瓦斯浓度达到多少时必须停止作业？",
            "采掘工作面风流中甲烷浓度达到 1.5% 时，必须停止工作。",
            root,
        ),
        (
            "矿灯不亮了能自己修吗?",
            "不能。应停止作业，由同班人员陪同撤到有照明的地点。",
            root,
        ),
        ("新工人培训多少学时才能下井？", "新上岗的井下作业人员安全培训时间不少于 72 学时。", root),
        (
            "CO 报警器的报警浓度是多少？",
            "CO 报警器（carbon monoxide alarm）的报警浓度为 24 ppm。",
            root,
        ),
    ]
    assert title_body(doc) == [("《常见问题》主要包括哪些内容？", doc.sections[0].text)]
    assert definitions(doc) == []  # 'Q：…' and '答：…' lines are no 'term: definition' lines


def test_markdown_faq_headings_with_question_and_answer_markers(tmp_path: Path) -> None:
    text = "# 常见问题\n\n## 问：可以带手机下井吗？\n\n答：非防爆手机一律不得带入井下。\n\n"
    text += "## 2. 一个班最长工作多少小时？\n\n每班工作时间不超过 8 小时。\n"
    doc = _doc(tmp_path, "faq.md", text)
    assert _triples(faq, doc) == [
        ("可以带手机下井吗？", "非防爆手机一律不得带入井下。", "常见问题 > 问：可以带手机下井吗？"),
        (
            "一个班最长工作多少小时？",
            "每班工作时间不超过 8 小时。",
            "常见问题 > 2. 一个班最长工作多少小时？",
        ),
    ]
    assert heading_section(doc) == []  # question headings are the faq rule's


def test_regulation_text_gets_chapter_and_article_sections(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "煤矿安全规定.txt", REGULATION_TXT)
    root, chapter2 = "煤矿安全规定", "煤矿安全规定 > 第二章 通风 > 第一节 一般规定"
    assert [(" > ".join(s.heading_path), s.text) for s in doc.sections] == [
        (root, "本规定适用于红岭煤矿的井下作业。"),
        (f"{root} > 第一章 总则 > 第一条", "为了加强煤矿安全生产工作，防止煤矿事故，制定本规定。"),
        (f"{root} > 第一章 总则 > 第二条", "本规定所称煤矿企业，是指依法从事煤炭生产的企业。"),
        (f"{chapter2} > 第三条", "矿井必须采用机械通风。\n主要通风机必须安装在地面。"),
        (f"{chapter2} > 第四条", "依照第三条规定执行。"),
        (
            f"{chapter2} > 一、局部通风 > （一）局部通风机",
            "局部通风机必须安装在进风巷道中，距回风口不得小于 10 米。",
        ),
    ]
    assert _triples(heading_section, doc) == [
        (
            "《煤矿安全规定》第一条是怎么规定的？",
            "为了加强煤矿安全生产工作，防止煤矿事故，制定本规定。",
            f"{root} > 第一章 总则 > 第一条",
        ),
        (
            "《煤矿安全规定》第二条是怎么规定的？",
            "本规定所称煤矿企业，是指依法从事煤炭生产的企业。",
            f"{root} > 第一章 总则 > 第二条",
        ),
        (
            "《煤矿安全规定》第三条是怎么规定的？",
            "矿井必须采用机械通风。\n主要通风机必须安装在地面。",
            f"{chapter2} > 第三条",
        ),
        ("《煤矿安全规定》第四条是怎么规定的？", "依照第三条规定执行。", f"{chapter2} > 第四条"),
        (
            "《煤矿安全规定》“一、局部通风”中“（一）局部通风机”有哪些规定？",
            "局部通风机必须安装在进风巷道中，距回风口不得小于 10 米。",
            f"{chapter2} > 一、局部通风 > （一）局部通风机",
        ),
    ]
    assert _triples(definitions, doc) == [
        (
            "什么是煤矿企业？",
            "本规定所称煤矿企业，是指依法从事煤炭生产的企业。",
            f"{root} > 第一章 总则 > 第二条",
        )
    ]
    assert title_body(doc) == [
        ("《煤矿安全规定》主要包括哪些内容？", "本规定适用于红岭煤矿的井下作业。")
    ]


def test_chinese_definitions_list(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "terms.md", DEFINITIONS_MD)
    assert _triples(definitions, doc) == [
        ("什么是瓦斯？", "瓦斯：是指矿井中以甲烷为主的有害气体。", "术语和定义"),
        ("什么是采空区？", "采空区，指采煤以后不再维护的空间。", "术语和定义"),
        ("什么是局部通风机？", "“局部通风机”系指向井下局部地点供风的通风机。", "术语和定义"),
        ("什么是煤尘？", "煤尘是指颗粒直径小于 1 毫米的煤炭颗粒。", "术语和定义"),
        (
            "什么是CO 报警器？",
            "CO 报警器（carbon monoxide alarm）是指检测一氧化碳浓度并报警的仪器。",
            "术语和定义",
        ),
        ("什么是自救器？", "自救器：入井人员随身携带的呼吸保护装置。", "术语和定义"),
    ]  # not '注意：' (a label), '1. 打开外壳：' (a numbered step), '该仪器是指' (points back)


def test_mixed_chinese_english_text(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "monitoring.md", MIXED_MD)
    gas = "井下安装 KJ 型安全监控系统（safety monitoring system），CH4 传感器的报警浓度为 1.0%。"
    gas_text = (
        f"{gas}\n\nMethane: 甲烷，无色无味的可燃气体，是瓦斯的主要成分。\n\n"
        "CO sensor（一氧化碳传感器）是指连续监测一氧化碳浓度的传感器。"
    )
    assert _triples(heading_section, doc) == [
        (
            "《监测监控》中“Gas monitoring 系统”有哪些规定？",
            gas_text,
            "监测监控 > Gas monitoring 系统",
        ),
        (
            "What does the 监测监控 say about Sensor calibration?",
            "Sensors are calibrated every 15 days with standard gas.",
            "监测监控 > Sensor calibration",
        ),
    ]
    assert _triples(definitions, doc) == [
        (
            "什么是Methane？",
            "Methane: 甲烷，无色无味的可燃气体，是瓦斯的主要成分。",
            "监测监控 > Gas monitoring 系统",
        ),
        (
            "什么是CO sensor？",
            "CO sensor（一氧化碳传感器）是指连续监测一氧化碳浓度的传感器。",
            "监测监控 > Gas monitoring 系统",
        ),
    ]
    assert faq(doc) == [] and title_body(doc) == []


def test_english_document_gives_what_it_gave_before(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "vent.md", ENGLISH_MD)
    assert {name: rule(doc) for name, rule in BUILTIN_RULES.items()} == {
        "title_body": [
            (
                "What does the Ventilation Handbook document cover?",
                "This handbook explains how air moves through the mine.",
            )
        ],
        "heading_section": [
            (
                "What does the Ventilation Handbook say about Main Fans?",
                "The main fans run all the time. They are checked every shift.\n\n"
                "Regulator: a door with an opening that controls airflow into a district.",
            )
        ],
        "faq": [
            (
                "What happens when a fan stops?",
                "Everyone leaves the heading and reports to the control room.",
            )
        ],
        "definitions": [
            (
                "What is meant by 'Regulator'?",
                "Regulator: a door with an opening that controls airflow into a district.",
            )
        ],
    }


def test_docx_marker_paragraphs_are_headings(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("煤矿安全规定", style="Title")
    d.add_paragraph("第一章 总则")
    d.add_paragraph("第一条　为了加强煤矿安全生产工作，制定本规定。")
    d.add_paragraph("第一条规定的事项由安全科负责解释。")  # a reference, not a heading
    d.add_heading("附则", level=1)
    d.add_paragraph("本规定自发布之日起施行。")
    d.save(str(tmp_path / "reg.docx"))
    doc = load_document(tmp_path / "reg.docx")
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        (
            ("煤矿安全规定", "第一章 总则", "第一条"),
            "为了加强煤矿安全生产工作，制定本规定。\n\n第一条规定的事项由安全科负责解释。",
        ),
        (("煤矿安全规定", "附则"), "本规定自发布之日起施行。"),
    ]
    assert heading_section(doc)[0][0] == "《煤矿安全规定》第一条是怎么规定的？"


def _pdf(path: Path, lines: list[tuple[str, int]]) -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path))
    c.setTitle("煤矿安全规定")
    y = 760
    for text, size in lines:
        c.setFont("STSong-Light", size)
        c.drawString(72, y, text)
        y -= 30
    c.save()
    return path


def test_pdf_articles_at_body_size_nest_under_larger_chapters(tmp_path: Path) -> None:
    path = _pdf(
        tmp_path / "reg.pdf",
        [
            ("煤矿安全规定", 18),
            ("第一章 总则", 14),
            ("第一条 为了加强煤矿安全生产工作，制定本规定。", 11),
            ("第二条 本规定适用于井下作业。", 11),
            ("第二章 通风", 14),
            ("一、局部通风", 11),
            ("局部通风机必须安装在进风巷道中。", 11),
        ],
    )
    assert [(s.heading_path, s.text) for s in load_document(path).sections] == [
        (("煤矿安全规定", "第一章 总则", "第一条"), "为了加强煤矿安全生产工作，制定本规定。"),
        (("煤矿安全规定", "第一章 总则", "第二条"), "本规定适用于井下作业。"),
        (("煤矿安全规定", "第二章 通风", "一、局部通风"), "局部通风机必须安装在进风巷道中。"),
    ]


def test_pdf_of_one_font_size_splits_at_markers(tmp_path: Path) -> None:
    path = _pdf(
        tmp_path / "flat.pdf",
        [
            ("第一章 总则", 11),
            ("第一条 为了加强煤矿安全生产工作。", 11),
            ("第二条 本规定适用于井下作业。", 11),
        ],
    )
    assert [(s.heading_path, s.text) for s in load_document(path).sections] == [
        (("煤矿安全规定", "第一章 总则", "第一条"), "为了加强煤矿安全生产工作。"),
        (("煤矿安全规定", "第一章 总则", "第二条"), "本规定适用于井下作业。"),
    ]


def test_pdf_without_font_information_splits_at_markers() -> None:
    plain = "第一章 总则\n第一条 为了加强煤矿安全生产工作。\n第二条 本规定适用于井下作业。"
    plain += "\n \n一、局部通风\n局部通风机必须安装在进风巷道中。"
    assert page_events([PageText(plain)]) == [
        ("pg", 1, []),
        ("h", 3, ["第一章 总则"]),
        ("h", 6, ["第一条"]),
        ("b", 0, ["为了加强煤矿安全生产工作。"]),
        ("h", 6, ["第二条"]),
        ("b", 0, ["本规定适用于井下作业。"]),
        ("h", 5, ["一、局部通风"]),
        ("b", 0, ["局部通风机必须安装在进风巷道中。"]),
    ]


def test_long_chinese_answers_are_cut_and_split_at_chinese_sentence_ends() -> None:
    text = "第一句话。第二句话！第三句话？" * 2
    assert cut_at_sentence(text, 12) == "第一句话。第二句话！"
    assert split_parts(text, 11) == [
        "第一句话。第二句话！",
        "第三句话？第一句话。",
        "第二句话！第三句话？",
    ]


def test_data_build_cli_yields_pairs_from_chinese_docs(tmp_path: Path) -> None:
    from conftest import edit_config, run_cli

    config = init_project(tmp_path / "zh", base="builtin:tiny-random")
    docs = config.parent / "docs"
    for example in docs.iterdir():
        example.unlink()
    (docs / "常见问题.txt").write_text(FAQ_TXT, encoding="utf-8")
    (docs / "煤矿安全规定.txt").write_text(REGULATION_TXT, encoding="utf-8")
    (docs / "terms.md").write_text(DEFINITIONS_MD, encoding="utf-8")
    edit_config(config, {"data.general": "none", "data.grounded": False})
    out = tmp_path / "data"
    proc = run_cli("data", "build", str(config), "--out", str(out), check=True)
    card = json.loads((out / "card.json").read_text())
    assert card["per_rule"]["faq"] == 6 and card["per_rule"]["heading_section"] == 5
    assert card["per_rule"]["definitions"] == 7, proc.stdout
    rows = [
        json.loads(line)
        for name in ("train.jsonl", "eval_domain.jsonl")
        for line in (out / name).read_text(encoding="utf-8").splitlines()
    ]
    pairs = {r["messages"][1]["content"]: r["messages"][2]["content"] for r in rows}
    assert pairs["井下发生火灾时应该怎么办？"] == (
        "立即佩戴自救器，沿避灾路线撤到进风流中，并向调度室报告。"
    )
    assert pairs["《煤矿安全规定》第一条是怎么规定的？"].startswith("为了加强煤矿安全生产工作")
    assert pairs["什么是瓦斯？"] == "瓦斯：是指矿井中以甲烷为主的有害气体。"
