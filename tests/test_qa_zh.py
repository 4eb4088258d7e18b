"""edgekit.qa in Chinese: Chinese documents get Chinese questions (faq, definitions, facts),
Chinese unanswerable questions and Chinese abstentions; English output stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.kb.zh_markers import is_mainly_cjk
from edgekit.qa import evalset, questions_zh
from edgekit.qa.evalset import build_qa_set, unanswerable_questions
from edgekit.qa.facts import NO_NAMES
from edgekit.qa.questions import Passage, passage_candidates
from edgekit.qa.score import abstained

REPO = Path(__file__).resolve().parents[1]
ZH_DOCS = REPO / "examples" / "mine-safety-zh" / "docs"
EN_DOCS = REPO / "examples" / "mine-safety" / "docs"


def _candidates(
    heading_path: tuple[str, ...], text: str, title: str
) -> list[tuple[str, tuple[str, ...], str, str]]:
    p = Passage("docs/x.md", title, heading_path, None, text, 1)
    return [(c.question, c.answers, c.evidence, c.kind) for c in passage_candidates(p, NO_NAMES)]


def test_faq_question_heading_and_question_lines() -> None:
    heading = _candidates(
        ("常见问题", "问：新工人要培训多久才能下井？"),
        "答：新上岗的井下作业人员安全培训时间不少于 72 学时，考试合格后方可下井；"
        "在有经验的工人带领下实习满 4 个月。",
        "常见问题",
    )
    first = "新上岗的井下作业人员安全培训时间不少于 72 学时，考试合格后方可下井；"
    assert heading == [
        ("新工人要培训多久才能下井？", ("72 学时",), first, "faq"),
        (
            "根据《常见问题》，新上岗的井下作业人员安全培训时间不少于多少学时，考试合格后方可下井？",
            ("72 学时",),
            first,
            "sentence",
        ),
        (
            "根据《常见问题》，在有经验的工人带领下实习满多长时间？",
            ("4 个月",),
            "在有经验的工人带领下实习满 4 个月。",
            "sentence",
        ),
    ]
    lines = _candidates(
        ("常见问题",),
        "问：可以带手机下井吗？\n答：严禁携带烟草和点火物品下井，入井前必须接受检身。\n\n"
        "问：井下一个班最长工作多少小时？\n"
        "答：每班工作时间原则上不超过 8 小时，带班领导与工人同时下井。",
        "常见问题",
    )
    shift = "每班工作时间原则上不超过 8 小时，带班领导与工人同时下井。"
    assert lines == [
        (
            "可以带手机下井吗？",
            ("严禁携带烟草和点火物品下井",),
            "严禁携带烟草和点火物品下井，入井前必须接受检身。",
            "faq",
        ),
        ("井下一个班最长工作多少小时？", ("8 小时",), shift, "faq"),
        (
            "根据《常见问题》，每班工作时间原则上不超过多长时间，带班领导与工人同时下井？",
            ("8 小时",),
            shift,
            "sentence",
        ),
    ]


def test_definitions_ask_what_the_term_is() -> None:
    got = _candidates(
        ("通风管理",),
        "瓦斯是指矿井中主要由甲烷构成的有害气体，比空气轻。\n"
        "局部通风机，指为掘进工作面单独供风的通风机。\n"
        "避灾路线：事故发生时，人员撤离到地面或安全地点的预定路线。\n"
        "MANLESS：如果设置了 $MANLESS，它的值将用作分页程序的默认提示字符串。\n"
        "注意：不要在回风巷停留。",
        "通风管理",
    )
    assert got == [
        (
            "什么是瓦斯？",
            ("矿井中主要由甲烷构成的有害气体",),
            "瓦斯是指矿井中主要由甲烷构成的有害气体，比空气轻。",
            "definition",
        ),
        (
            "什么是局部通风机？",
            ("为掘进工作面单独供风的通风机",),
            "局部通风机，指为掘进工作面单独供风的通风机。",
            "definition",
        ),
        (  # past the leading condition '事故发生时'
            "什么是避灾路线？",
            ("人员撤离到地面或安全地点的预定路线",),
            "避灾路线：事故发生时，人员撤离到地面或安全地点的预定路线。",
            "definition",
        ),
        (  # past the leading condition '如果设置了 $MANLESS' (man-db's Chinese man.1)
            "什么是MANLESS？",
            ("它的值将用作分页程序的默认提示字符串",),
            "MANLESS：如果设置了 $MANLESS，它的值将用作分页程序的默认提示字符串。",
            "definition",
        ),
    ]


def test_fact_sentences_ask_for_the_number_with_its_unit() -> None:
    got = _candidates(
        ("通风管理", "一、瓦斯"),
        "第5条 回风流中瓦斯浓度超过 1.0% 时，必须停止工作。\n"
        "瓦斯检查工每班检查三次甲烷浓度。\n"
        "1. 备用通风机必须能在 10 分钟内开动。\n"
        "炮眼深度超过 2.5 米时，封泥长度不得小于 1 米；超过 3.0% 时，必须撤出人员。\n"
        "甲烷传感器每 15 天至少调校 1 次。\n"
        "该设备距工作面不大于 5 米。",
        "通风管理",
    )
    assert [(q, a, k) for q, a, _, k in got] == [
        ("根据《通风管理》，回风流中瓦斯浓度超过多少时，必须停止工作？", ("1.0%",), "sentence"),
        ("根据《通风管理》，瓦斯检查工每班检查几次甲烷浓度？", ("三次",), "sentence"),
        ("根据《通风管理》，备用通风机必须能在多长时间内开动？", ("10 分钟",), "sentence"),
        (
            "根据《通风管理》，炮眼深度超过多少米时，封泥长度不得小于 1 米？",
            ("2.5 米",),
            "sentence",
        ),
        ("根据《通风管理》，甲烷传感器每多少天至少调校 1 次？", ("15 天",), "sentence"),
    ]  # not the subject-less '超过 3.0% 时，…' after '；', nor '该设备…'
    assert got[0][2] == "回风流中瓦斯浓度超过 1.0% 时，必须停止工作。"  # no '第5条'


def test_table_cells_holding_a_value() -> None:
    got = _candidates(
        ("瓦斯检查与监测", "四、其他有害气体"),
        "第13条 最高允许浓度如下表：\n\n气体 | 最高允许浓度 | 说明\n"
        "一氧化碳（CO） | 24 ppm | 剧毒\n"
        "氨（NH3） | 0.004%（40 ppm） | 每班检查 1 次并记录在牌板上",
        "瓦斯检查与监测",
    )
    assert got == [
        (
            "根据《瓦斯检查与监测》中的表格，一氧化碳（CO）的最高允许浓度是多少？",
            ("24 ppm",),
            "一氧化碳（CO） | 24 ppm | 剧毒",
            "sentence",
        ),
        (
            "根据《瓦斯检查与监测》中的表格，氨（NH3）的最高允许浓度是多少？",
            ("0.004%",),
            "氨（NH3） | 0.004%（40 ppm） | 每班检查 1 次并记录在牌板上",
            "sentence",
        ),
    ]


def test_option_lines_ask_what_they_do_and_which_one() -> None:
    """man-db's Chinese man pages: 12 pages gave 25 questions before (no question kind
    read their option lists); GNU's standard options are not asked about."""
    test = "- -t, --test: 对手册页执行正确性检查。使用此选项时，mandb 不会更改数据库。"
    html = "- -H[浏览器], --html[=浏览器]: 此选项使 groff 生成 HTML 输出。"
    got = _candidates(
        ("mandb.8", "选项"),
        f"{test}\n{html}\n- -?, --help: 打印帮助消息并退出。\n"
        "- MANWIDTH: 如果设置了 $MANWIDTH ，它的值将用作终端宽度。",
        "mandb.8",
    )
    assert got == [
        ("什么是MANWIDTH？", ("它的值将用作终端宽度",),
         "MANWIDTH: 如果设置了 $MANWIDTH ，它的值将用作终端宽度。", "definition"),
        ("根据《mandb.8》，-t 选项做什么？", ("对手册页执行正确性检查",),
         "对手册页执行正确性检查。", "option"),
        ("根据《mandb.8》，哪个选项对手册页执行正确性检查？", ("-t", "--test"), test, "option"),
        ("根据《mandb.8》，-H 选项做什么？", ("使 groff 生成 HTML 输出",),
         "此选项使 groff 生成 HTML 输出。", "option"),
        ("根据《mandb.8》，哪个选项使 groff 生成 HTML 输出？", ("-H", "--html"), html, "option"),
    ]  # fmt: skip


def test_mine_safety_zh_set_is_chinese_and_grounded(tmp_path: Path) -> None:
    items = build_qa_set(ZH_DOCS, tmp_path)  # tmp_path: a project without eval/qa.jsonl
    answerable = [i for i in items if i.answerable]
    unanswerable = [i for i in items if not i.answerable]
    assert len(answerable) >= 15
    assert {"faq", "definition", "sentence"} <= {i.kind for i in answerable}
    assert {i.split for i in items} == {"dev", "test"}
    texts = {f"docs/{p.name}": p.read_text(encoding="utf-8") for p in ZH_DOCS.iterdir()}
    for item in answerable:
        assert item.question.endswith("？") and is_mainly_cjk(item.question), item.question
        assert "What" not in item.question and "document" not in item.question
        assert item.evidence and item.source in texts
        for answer in item.answers:
            assert answer in item.evidence and answer in texts[item.source], item
    assert len(unanswerable) >= 2
    assert all(i.question.endswith("？") and is_mainly_cjk(i.question) for i in unanswerable)


def _pairs(items: list[evalset.QAItem]) -> list[tuple[str, tuple[str, ...], str, str]]:
    return [(i.question, i.answers, i.kind, i.split) for i in items]


def test_english_docs_give_what_they_gave_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tools.md").write_text(
        "# Tool Store\n\n## Opening Hours\n\nThe tool store opens at 06:00 on working days.\n\n"
        "## Returns\n\nDamaged tools go back within 24 hours, with a tag that names the fault.\n"
    )
    got = build_qa_set(docs, tmp_path / "project")  # exactly what the English rules gave
    assert _pairs(got) == [
        (
            "What does the Tool Store document say about opening hours?",
            ("The tool store opens at 06:00 on working days",),
            "heading",
            "dev",
        ),
        (
            "According to the Opening Hours section, the tool store opens at what time on "
            "working days?",
            ("06:00",),
            "sentence",
            "dev",
        ),
        (
            "According to the Returns section, damaged tools go back within how many hours, "
            "with a tag that names the fault?",
            ("24 hours",),
            "sentence",
            "test",
        ),
        ("How much does a monthly gym membership cost for staff?", (), "unanswerable", "dev"),
        (
            "How many days of annual leave can I carry over into next year?",
            (),
            "unanswerable",
            "test",
        ),
        ("Who is the union representative for the night shift?", (), "unanswerable", "dev"),
        (
            "What is the name of the chief executive's personal assistant?",
            (),
            "unanswerable",
            "test",
        ),
    ]
    # the Chinese branch switched off changes nothing in the English example
    example = build_qa_set(EN_DOCS, tmp_path / "project")
    monkeypatch.setattr(questions_zh, "is_chinese", lambda p: False)
    monkeypatch.setattr(evalset, "is_mainly_cjk", lambda text: False)
    assert _pairs(example) == _pairs(build_qa_set(EN_DOCS, tmp_path / "project"))
    assert example == build_qa_set(EN_DOCS, tmp_path / "project")


def test_chinese_docs_get_chinese_unanswerable_questions() -> None:
    docs_text = (
        "职工食堂周日 6 点开门。访客无线网络的密码请问保卫科。瓦斯浓度超过 1.0% 时停止工作。"
    )
    every = unanswerable_questions(docs_text, n=100)
    questions = {i.question for i in every}
    assert "职工食堂周日几点开门？" not in questions
    assert "访客无线网络的密码是多少？" not in questions
    assert "工资每个月几号发？" in questions
    assert len(every) >= 15
    assert all(is_mainly_cjk(q) and q.endswith("？") for q in questions)
    assert all(i.kind == "unanswerable" and i.answers == () for i in every)
    assert unanswerable_questions(docs_text, n=4, seed=7) == unanswerable_questions(
        docs_text, n=4, seed=7
    )


@pytest.mark.parametrize(
    ("answer", "abstains"),
    [
        ("资料中没有提到。", True),
        ("文档中没有这方面的内容。", True),
        ("无法从资料中找到答案，请拨打调度室电话 8000。", True),
        ("提供的资料未涉及此问题。", True),
        ("找不到相关信息。", True),
        ("拒爆是炮眼内的炸药或电雷管没有爆炸[1]。", False),
        ("未经调度室同意不得擅自离开[2]。", False),
        ("严禁用煤粉、块状材料或者其他可燃性材料作炮眼封泥。", False),
    ],
)
def test_chinese_abstentions(answer: str, abstains: bool) -> None:
    assert abstained(answer) is abstains


def test_a_chinese_document_gets_no_english_heading_question(tmp_path: Path) -> None:
    # man-db's Chinese man page: its 概述 section is a command line, which made "What does
    # the man.1 document say about 概述?" (answer: the whole line) on a Chinese site
    page = (
        "# man.1\n\n## {synopsis}\n\nman [man options] [[section] page ...]\n\n## {about}\n\n"
        "{body}\n"
    )
    zh = "man 是系统的手册分页程序。默认将按预定的顺序查找所有可用的章节，并只显示找到的第一个页。"
    en = "man is the system's manual pager. It shows the first page found in a section."
    pages = (("zh", "概述", "描述", zh), ("en", "Synopsis", "About", en))
    for name, synopsis, about, body in pages:
        (tmp_path / name).mkdir()
        text = page.format(synopsis=synopsis, about=about, body=body)
        (tmp_path / name / "man.1.md").write_text(text, encoding="utf-8")
    heading = "What does the man.1 document say about {}?"
    zh_questions = {i.question for i in evalset.generate_qa(tmp_path / "zh")}
    en_questions = {i.question for i in evalset.generate_qa(tmp_path / "en")}
    assert heading.format("synopsis") in en_questions
    assert not any(q.startswith("What does") for q in zh_questions)
