"""Short, supported answers (issue 22): the answer span inside the evidence sentence, the
sentence choice that prefers a sentence holding an answer of the asked kind, the reply
format (span first, the quote with the span marked, the citation), its scoring, and the
span as `edgekit chat` prints it and `edgekit serve` returns it."""

from __future__ import annotations

import json

import httpx
import pytest
from serving import RunningServer

from conftest import run_cli
from edgekit.kb.records import C_HEADING as HEADING
from edgekit.kb.records import Hit

SPANS = [
    # (question, sentence, expected span, expected kind)
    (
        "How long does a self-rescuer last?",
        "A self-rescuer lasts 30 minutes when you walk calmly.",
        "30 minutes",
        "number",
    ),
    (
        "How long does a refuge chamber support people?",
        "A refuge chamber supports 20 people for 36 hours.",
        "36 hours",
        "number",
    ),
    (
        "How many people does a refuge chamber support?",
        "A refuge chamber supports 20 people for 36 hours.",
        "20",
        "number",
    ),
    (
        "When was Super Bowl 50 played?",
        "The game was played on February 7, 2016, at Levi's Stadium in Santa Clara.",
        "February 7, 2016",
        "date",
    ),
    (
        "Which function creates a structure from a definition?",
        "Call asn1_create_element() to create a structure from a definition.",
        "asn1_create_element()",
        "code",
    ),
    (
        "Which file holds the shared MIME database?",
        "The shared MIME database is kept in /usr/share/mime/packages/freedesktop.org.xml.",
        "/usr/share/mime/packages/freedesktop.org.xml",
        "code",
    ),
    (
        "Which option prints the version?",
        "Run the tool with --version to print the version and exit.",
        "--version",
        "code",
    ),
    (
        "Who founded the university?",
        "The university was founded by John D. Rockefeller in 1890.",
        "John D. Rockefeller",
        "name",
    ),
    (
        "What does the ventilation officer check every shift?",
        "The ventilation officer checks the methane monitors every shift.",
        "methane monitors",
        "words",
    ),
    ("压缩氧自救器能用多长时间？", "压缩氧自救器的额定防护时间为30分钟。", "30分钟", "number"),
    (
        "瓦斯浓度达到多少时必须停止作业？",
        "采掘工作面瓦斯浓度达到1.0%时，必须停止作业。",
        "1.0%",
        "number",
    ),
    ("井下工作面有几个安全出口？", "每个采煤工作面必须有2个安全出口。", "2个", "number"),
    (
        "煤矿是什么时候开始实行这项规定的？",
        "该规定自2016年10月1日起施行。",
        "2016年10月1日",
        "date",
    ),
    (
        "哪个命令可以查看日志？",
        "使用 journalctl -u edgekit 查看服务日志。",
        "journalctl -u edgekit",
        "code",
    ),
    ("避难硐室的门用什么材料？", "避难硐室的门采用防爆钢板。", "防爆钢板", "words"),
]


@pytest.mark.parametrize(("question", "sentence", "want", "kind"), SPANS)
def test_answer_span_of_each_question_kind(question, sentence, want, kind):
    from edgekit.kb.span import answer_span

    span = answer_span(question, sentence)
    assert span is not None and span.text == want, span
    assert sentence[span.start : span.end] == span.text and span.kind == kind


def test_question_kinds_in_english_and_chinese():
    from edgekit.kb.span import question_kind

    assert question_kind("How many shifts are there?") == "number"
    assert question_kind("In what year did the mine open?") == "date"
    assert question_kind("Which command lists the files?") == "code"
    assert question_kind("Which NFL team won?") == "name"
    assert question_kind("Where is the muster point?") == "place"
    assert question_kind("What is a self-rescuer?") == "words"
    assert question_kind("瓦斯浓度超过多少要停电？") == "number"
    assert question_kind("哪年开始施行？") == "date"
    assert question_kind("哪个文件保存配置？") == "code"
    assert question_kind("man 默认使用哪个分页程序？") == "code"  # which pager program
    assert question_kind("什么类型的文件？") == "words"
    assert question_kind("谁负责通风？") == "name"


def test_a_sentence_with_an_answer_of_the_asked_kind_wins():
    """Equal word overlap: the sentence that holds a duration beats the better-ranked one
    that only talks about the battery (which wins when the kind is not counted)."""
    from edgekit.kb import evidence

    hits = [
        Hit("a", "The cap lamp battery must be charged after every shift.", 1.0, {}),
        Hit("b", "A charged cap lamp battery runs for 14 hours.", 0.9, {}),
    ]
    question = "How long does a charged cap lamp battery run?"
    best = evidence.best_sentence(question, hits)
    assert best is not None and best.excerpt == 2 and best.span is not None
    assert best.span.text == "14 hours"
    assert best.span_field() == {
        "text": "14 hours",
        "kind": "number",
        "sentence": "A charged cap lamp battery runs for 14 hours.",
        "start": 36,
        "end": 44,
        "citation": 2,
    }
    # without an asked kind, the first excerpt's sentence keeps its rank bonus
    plain = evidence.best_sentence("Is the cap lamp battery charged?", hits)
    assert plain is not None and plain.excerpt == 1


def test_chinese_words_written_with_numerals_are_no_count():
    """From a real manual (realdocs zh): '在一个图形窗口中' (the article 'a') and '万一'
    (in case) hold numeral characters but no count, so they do not answer '多少'; a
    sentence with a real count (digits, 两个, 百分之五十) still does."""
    from edgekit.kb.span import kind_match

    question = "dpi 的默认值是多少？"
    assert not kind_match(question, "此选项使用 gxditview 程序在一个图形窗口中显示输出结果。")
    assert not kind_match(question, "万一这种事情发生，可能要重新运行 mandb 来重建数据库。")
    assert kind_match(question, "dpi 可以是 75 或 100，默认为 75。")
    assert kind_match(question, "保存两个副本。")
    assert kind_match(question, "百分之五十的页面。")


def test_a_question_word_few_sentences_hold_counts_more():
    """From a real spec (realdocs dev): 'glob' and 'element' stand in most sentences of the
    excerpt, 'default' in one; by plain word counts the sentence naming the glob element
    three times wins, weighted by how few sentences hold each word the default value does
    (SQuAD dev articles 4..9: answer right 0.742 -> 0.753)."""
    from edgekit.kb import evidence

    text = (
        "Each glob element has a pattern. A glob element may list a weight attribute. "
        "The default weight value is 50."
    )
    best = evidence.best_sentence(
        "What is the default weight of a glob element?", [Hit("a", text, 1.0, {})]
    )
    assert best is not None and best.sentence == "The default weight value is 50."


def test_the_reply_gives_the_span_first_then_the_marked_quote():
    from edgekit.kb.evidence import Evidence, best_sentence, quoted

    hits = [Hit("a", "A self-rescuer lasts 30 minutes when you walk calmly.", 1.0, {})]
    ev = best_sentence("How long does a self-rescuer last?", hits)
    assert ev is not None
    assert quoted(ev) == (
        '30 minutes\n\n"A self-rescuer lasts **30 minutes** when you walk calmly." [1]'
    )
    # no span (the sentence is the answer): the quote alone, as before
    bare = Evidence(1, "Walk to the muster point.", 0.5, 1.0)
    assert quoted(bare) == '"Walk to the muster point." [1]'


def test_scores_take_the_short_answer_for_token_f1():
    from edgekit.qa.score import answer_words, short_answer, token_f1

    reply = '30 minutes\n\n"A self-rescuer lasts **30 minutes** when you walk calmly." [1]'
    assert short_answer(reply) == "30 minutes" and answer_words(reply) == 2
    assert token_f1(short_answer(reply), ["30 minutes"]) == 1.0
    assert token_f1(reply, ["30 minutes"]) < 0.5  # the whole quote: long, imprecise
    assert short_answer("It lasts **30 minutes** [2].") == "It lasts 30 minutes ."
    assert short_answer('"A quote without a span." [1]') == '"A quote without a span."'
    assert short_answer("30分钟\n\n“自救器的防护时间为**30分钟**。” [1]") == "30分钟"


def test_terminal_bold_only_on_a_terminal_and_across_pieces():
    from edgekit.runtime.answer.session import BOLD, PLAIN, BoldMarks

    pieces = ["lasts *", "*30 min", "utes*", "* calmly *"]
    on = BoldMarks(True)
    assert "".join(on.feed(p) for p in pieces) + on.close() == (
        f"lasts {BOLD}30 minutes{PLAIN} calmly *"
    )
    off = BoldMarks(False)
    assert "".join(off.feed(p) for p in pieces) + off.close() == "".join(pieces)


QUESTION = "Which extension do I call in an emergency?"


def test_chat_prints_the_span_first_and_marks_it(extract_bundle):
    proc = run_cli("chat", str(extract_bundle), QUESTION, check=True)
    first, _, rest = proc.stdout.partition("\n\n")
    assert first.strip() == "222", proc.stdout
    assert '"Call the control room on extension **222**." [1]' in rest, proc.stdout
    assert "\033[" not in proc.stdout  # not a terminal: the markdown marks, no ANSI codes


def test_extract_without_a_matching_sentence_quotes_a_related_one_or_abstains(extract_bundle):
    """With no sentence holding a third of the question's words, `extract` answers as the
    support check replaces an answer, without asking the model: a sentence sharing some
    of its words, holding an answer of the kind asked and close in meaning, quoted (a
    third of the words: "muster point" of six), else the abstention in
    the question's language (tiny-random would write noise, and the support check would
    quote the muster-point sentence for "how many" too, though it holds no number)."""
    from edgekit.runtime.answer.support import NOT_IN_EXCERPTS, NOT_IN_EXCERPTS_ZH

    def answer(question: str) -> str:
        proc = run_cli("chat", str(extract_bundle), question, check=True)
        return proc.stdout.split("\nSources:")[0].strip()

    related = answer("Which spot is the muster point for visitors arriving by bus?")
    assert related.startswith('"Muster point:') and related.endswith("]"), related
    assert answer("How many xylophone quasars stand at the muster point?") == NOT_IN_EXCERPTS
    assert answer("木琴类星体斑马是什么？") == NOT_IN_EXCERPTS_ZH
    # a name no excerpt mentions: the muster-point sentence shares "muster point" but is
    # not about Python (libtasn1's manual quoted its overview for "Which Python module
    # provides bindings for libtasn1?")
    assert answer("Which Python module opens the muster point?") == NOT_IN_EXCERPTS


def test_how_many_is_not_answered_by_a_sentence_without_a_number():
    from edgekit.kb.evidence import best_sentence

    hits = [Hit("a", "The mandb database holds the manual pages of every section.", 1.0, {})]
    assert best_sentence("How many manual pages does the mandb database hold?", hits) is None
    got = best_sentence("Which manual pages does the mandb database hold?", hits)
    assert got is not None


def test_names_no_excerpt_mentions():
    from edgekit.kb.absent_names import absent_names, question_names

    hits = [
        Hit("a", "The European Coal and Steel Community banned cartels in 1951.", 1.0, {}),
        Hit("b", "Returns ASN1_MEM_ERROR.", 1.0, {"heading": "Libtasn1 > asn1 read value"}),
    ]
    names = question_names("What did the U.S. and the ECSC ban in 1951, said Python?")
    assert names == ["ECSC", "1951", "Python"]  # not "What", nor the initialism "U.S."
    assert absent_names("What did the ECSCs ban in 1951, said Python?", hits) == ["Python"]
    assert absent_names("What does asn1_read_value return?", hits) == []
    assert absent_names("mandb 的 -t 选项做什么？", hits) == ["mandb"]


def test_a_name_spelt_a_little_otherwise_is_not_absent():
    from edgekit.kb.absent_names import absent_names

    text = (
        "Kücükdeveci worked for Swedex from 1628–31 under article 30 TFEU; ARPANET and "
        "the Palestinian mandate date from October 25."
    )
    hits = [Hit("a", text, 1.0, {})]
    for question in (
        "How long did Ms Kucukdeveci work for Swedex?",  # accents
        "What happened between 1628-31?",  # en dash, a range
        "Which TEFU article bans restrictions?",  # two letters swapped
        "When did ARPNET become operational?",  # a letter dropped
        "What was awarded on October 25th?",  # an ordinal
        "Who withdrew from the Palestine?",  # a name inside a longer word
    ):
        assert absent_names(question, hits) == [], question
    assert absent_names("What did Gebhard v Consiglio...Milano decide?", hits) == [
        "Gebhard",
        "Consiglio",
        "Milano",
    ]
    assert absent_names("Which TEFU article did Winston sign?", hits) == ["Winston"]


def test_serve_returns_the_span_beside_the_marked_answer(extract_bundle):
    server = RunningServer(extract_bundle, "--slots", "1", "--no-auth")
    try:
        body = {"model": "", "messages": [{"role": "user", "content": QUESTION}]}
        got = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60).json()
        content = got["choices"][0]["message"]["content"]
        span = got["answer_span"]
        assert content.startswith(span["text"] + "\n\n") and span["text"] == "222"
        assert f"**{span['text']}**" in content
        assert span["sentence"][span["start"] : span["end"]] == span["text"]
        assert got["citations"][span["citation"] - 1]["source"] == "docs/faq.md"
        # streamed: the same text, and the last chunk carries the span
        chunks = []
        with httpx.stream(
            "POST",
            f"{server.url}/v1/chat/completions",
            json=body | {"stream": True},
            timeout=60,
        ) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    chunks.append(json.loads(line[6:]))
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert text == content and chunks[-1]["answer_span"] == span
        # a question no sentence answers well: no span field
        other = body | {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}
        plain = httpx.post(f"{server.url}/v1/chat/completions", json=other, timeout=60).json()
        assert "answer_span" not in plain
    finally:
        server.stop()


API_HITS = [
    Hit(
        "ref#7",
        "io_read_block (int fd, char * buf) fd: an open descriptor. buf: where the block "
        "goes. Reads one block from fd into buf. Returns: the number of bytes read, or -1 "
        "when fd is closed.",
        0.9,
        {"source": "docs/api.pdf", "heading": "Reference > 4.2 Block input > io read block"},
    ),
    Hit(
        "ref#8",
        "io_write_block writes one block from buf to fd and flushes it.",
        0.8,
        {"source": "docs/api.pdf", "heading": "Reference > 4.3 Block output > io write block"},
    ),
    Hit(
        "ref#2",
        "The library keeps no global state. Reads are never cached by the library.",
        0.7,
        {"source": "docs/api.pdf", "heading": "Reference > Library Notes"},
    ),
]


def test_the_answer_is_the_section_a_function_manual_names():
    """An API manual's sentence describes its section's function without naming it:
    "Which function reads ...?" is answered by the heading, spelled as the signature
    spells it; a sentence that names the function keeps its own span."""
    from edgekit.kb.evidence import best_sentence, quoted
    from edgekit.kb.section_name import is_name

    ev = best_sentence("Which function reads one block into buf?", API_HITS)
    assert ev is not None and ev.sentence == "Reads one block from fd into buf."
    assert ev.named == "io_read_block" and ev.span is None
    assert quoted(ev) == 'io_read_block\n\n"Reads one block from fd into buf." [1]'
    field = ev.span_field()
    assert field is not None and field["from"] == "heading" and field["start"] is None
    returns = best_sentence("Which function returns the number of bytes read?", API_HITS)
    assert returns is not None and returns.named == "io_read_block"
    # the sentence names it: its own span, marked in the quote
    writes = best_sentence("Which function writes one block to a descriptor?", API_HITS)
    assert writes is not None and writes.named is None
    assert writes.span is not None and writes.span.text == "io_write_block"
    # not a question for a function's name, or a heading that titles a topic
    served = best_sentence("What function does the library cache serve?", API_HITS)
    assert served is None or served.named is None
    assert is_name("io read block", [API_HITS[0].text]) and not is_name("io read block")
    assert is_name("4.2 gpio_set_value") and is_name("CreateFileW")
    assert not is_name("Library Notes") and not is_name("Invoking asn1Parser")
    assert not is_name("Block input")


MANDB_CREATE = (
    "- -c, --create: 默认情况下，mandb 会尝试更新任何以前创建的数据库。如果某个数据库不存在，"
    "程序会创建它。此选项强制 mandb 删除以前的数据库并重新生成数据库，并隐含了 --no-purge。\n"
    "- -u, --user-db: 只创建用户数据库，即使有创建系统数据库所需的写权限。"
)


def test_which_option_is_answered_by_the_term_of_its_line():
    """man-db's Chinese man pages: "which option/variable" is the term the line opens
    with, not a span of its text ("--no-purge" was shown for mandb's -c)."""
    from edgekit.kb.evidence import best_sentence, quoted

    hits = [Hit("a", MANDB_CREATE, 1.0, {})]
    best = best_sentence("mandb 的哪个选项会删除以前的数据库并重新生成？", hits)
    assert best is not None and best.sentence.startswith("此选项强制 mandb")
    assert best.named == "-c, --create" and best.span_field()["from"] == "term"
    assert quoted(best).startswith("-c, --create\n\n")
    # the question names the option: what it does is asked, not which one
    asked = best_sentence("mandb 的 -c 选项做什么？", hits)
    assert asked is not None and asked.named is None
    # "what does it do?": the line of the term it names, whole; it needs none of the
    # question's other words (man-db: "对手册页执行正确性检查" was missed for the next
    # sentence, which shares "mandb" and "选项")
    mandb_test = MANDB_CREATE + (
        "\n- -t, --test: 对层次结构搜索路径中的手册页执行正确性检查。"
        "使用此选项时，mandb 不会更改现有的数据库。"
    )
    does = best_sentence("mandb 的 -t 选项做什么？", [Hit("a", mandb_test, 1.0, {})])
    assert does is not None and does.sentence.startswith("- -t, --test: 对层次")
    assert does.span is None and does.named is None
    usage = "Usage: asn1Decoding [OPTION] DEFINITIONS ENCODED ASN1TYPE Decodes DER data."
    options = "-b, --benchmark perform a benchmark on decoding -s, --strict use strict DER"
    asn1 = [Hit("u", usage, 1.0, {}), Hit("o", options, 1.0, {})]
    b = best_sentence("What does the -b option of asn1Decoding do?", asn1)
    assert b is not None and b.sentence == "-b, --benchmark perform a benchmark on decoding"
    # the term inside the chosen sentence is its span
    seccomp = (
        "- MAN_DISABLE_SECCOMP: 在 Linux 系统中，man 通常将处理不受信任数据的子进程使用 "
        "seccomp(2) 沙盒进行限制。如果这种限制使得一些与页面显示内容无关的原因影响了程序正常行为，"
        "您可以设置 $MAN_DISABLE_SECCOMP 为任意非空值来禁用该沙盒。"
    )
    hit = Hit("b", seccomp, 1.0, {"heading": "man.1 > 环境"})
    got = best_sentence("设置哪个环境变量可以禁用 man 的 seccomp 沙盒？", [hit])
    assert got is not None and got.span is not None and got.span.text == "MAN_DISABLE_SECCOMP"
    # an option table without colons (libtasn1's manual)
    table = (
        "Invoking asn1Decoding\n-b, --benchmark perform a benchmark on decoding\n"
        "-h, --help print this help"
    )
    question = "Which option of asn1Decoding runs a benchmark on decoding?"
    flag = best_sentence(question, [Hit("c", table, 1.0, {})])
    assert flag is not None and flag.span is not None and flag.span.text == "-b, --benchmark"


def test_a_table_row_is_read_with_its_caption_and_header():
    """From a real man page (realdocs zh dev): the row '8 | 系统管理命令' shares only '8'
    with the question; read under its caption it beats the caption itself, which holds
    the question's other words but no answer. A header row frames later rows too."""
    from edgekit.kb import evidence
    from edgekit.kb.retrieve import terms

    table = (
        "下表显示了手册的章节号及其包含的手册页类型。\n\n1 | 可执行程序或 shell 命令\n"
        "2 | 系统调用(内核提供的函数)\n8 | 系统管理命令(通常只针对 root 用户)"
    )
    hits = [
        Hit(
            "a", "man 是系统的手册分页程序。如果指定了章节，man 将只在手册的指定章节搜索。", 1.0, {}
        ),
        Hit("b", table, 0.9, {}),
    ]
    best = evidence.best_sentence("手册的第 8 章节是什么类型的手册页？", hits)
    assert best is not None and best.sentence.startswith("8 | 系统管理命令"), best
    assert best.span is not None and best.span.text == "系统管理命令"
    asked = set(terms("手册的第 8 章节是什么类型的手册页？"))
    assert evidence.row_key_asked("8 | 系统管理命令", asked)  # the row the question names
    assert not evidence.row_key_asked("1 | 可执行程序", asked)
    assert not evidence.row_key_asked("8 系统管理命令", asked)  # not a table row
    # a sentence with the same words ranked first loses to the row the question names
    rival = Hit("r", "手册共有 8 个章节，每个章节收录一种类型的手册页。", 1.0, {})
    best = evidence.best_sentence("手册的第 8 章节是什么类型的手册页？", [rival, hits[1]])
    assert best is not None and best.excerpt == 2, best
    framed = evidence.framed_sentences(table)
    assert framed[3] == ("8 | 系统管理命令(通常只针对 root 用户)", f"{framed[0][0]} ")  # no header
    db = "名称 | 异步 | 文件名\nBerkeley db | 是 | index.bt\nGNU gdbm | 是 | index.db"
    best = evidence.best_sentence("GNU gdbm 的文件名是什么？", [Hit("c", db, 1.0, {})])
    assert best is not None and best.span is not None and best.span.text == "index.db"


def test_the_document_a_question_names_decides_between_alike_sections():
    """From real man pages (realdocs zh dev): man.1 and apropos.1 both have an exit
    status 16 under '退出状态'; the question names man, so man.1's line answers, though
    apropos's shorter line is closer to the question by embedding and ranks first here."""
    from edgekit.kb import evidence

    hits = [
        Hit(
            "a",
            "0 程序成功执行。\n\n16 未找到符合指定条件的结果。",
            1.0,
            {HEADING: "apropos.1 > 退出状态"},
        ),
        Hit(
            "b",
            "0 程序成功执行。\n\n16 至少有一个页面/文件/关键词不存在或不匹配。",
            0.9,
            {HEADING: "man.1 > 退出状态"},
        ),
    ]
    best = evidence.best_sentence("man 的退出状态 16 表示什么？", hits)
    assert best is not None and best.excerpt == 2, best
    best = evidence.best_sentence("apropos 的退出状态 16 表示什么？", hits)
    assert best is not None and best.excerpt == 1, best


def test_what_something_is_called_is_the_name_after_the_marker():
    """From a real man page (realdocs zh dev): '叫什么？' is answered by what follows
    '称为', not by the NAME line that restates the question's words."""
    from edgekit.kb import evidence

    hits = [
        Hit("a", "catman - 创建或更新预格式化的手册页", 1.0, {}),
        Hit("b", "catman 用于创建最新的预格式化手册页集合(称为 cat 页面)。", 0.9, {}),
    ]
    best = evidence.best_sentence("catman 创建的预格式化手册页叫什么？", hits)
    assert best is not None and best.excerpt == 2 and best.span is not None
    assert best.span.text == "cat 页面"
    en = [Hit("c", "Preformatted pages are called cat pages, and man shows them faster.", 1, {})]
    best = evidence.best_sentence("What are preformatted pages called?", en)
    assert best is not None and best.span is not None and best.span.text == "cat pages"


def test_question_words_meet_their_other_forms():
    """'return' meets 'returns' (and 'flushed' 'flush'): without stems the better-ranked
    sentence that only shares 'pump' and 'sump' won. On SQuAD dev articles 4..9 (1052
    questions, bench/answer_span.py --kb) stems took right answers 0.728 -> 0.748."""
    from edgekit.kb import evidence

    hits = [
        Hit("a", "The pump and the sump are checked every day.", 1.0, {}),
        Hit("b", "The pump returns the water to the sump.", 0.9, {}),
    ]
    best = evidence.best_sentence("What does the pump return to the sump?", hits)
    assert best is not None and best.excerpt == 2, best
    assert evidence.content_words("Returns flushed pages") == {"return", "flush", "page"}


def test_pdf_text_runs_and_spaced_identifiers_still_find_the_sentence():
    from edgekit.kb.evidence import best_sentence

    dump = " ".join(f"{n:08x} 00 05 64 69 66 66 09 0a 3e 30 3d 00 04 2a 2a |...|" for n in range(8))
    magic = Hit(
        "m",
        f"{dump} The magic-deleteall attribute, which means that implementations SHOULD "
        "discard information from previous directories, is written out into the magic "
        "file using __NOMAGIC__ as the value.",
        1.0,
        {HEADING: "Spec > 2.5. The magic files"},
    )
    globs = Hit(
        "g",
        "The glob-deleteall element, which means that implementations SHOULD discard "
        "information from previous directories, is written out into the globs2 file using "
        "__NOGLOBS__ as the pattern.",
        1.0,
        {HEADING: "Spec > 2.4. The glob files"},
    )
    got = best_sentence(
        "Which value is written into the magic file for magic-deleteall?", [globs, magic]
    )
    assert got is not None and got.sentence.startswith("The magic-deleteall attribute")

    # the heading spells the function with spaces: every sentence under it is about it
    def api(name: str, text: str) -> Hit:
        heading = f"Libtasn1 > 4.2 Field functions > {name.replace('_', ' ')}"
        return Hit(name, f"[Function]int {name} (asn1 node * structure) {text}", 1.0,
                   {HEADING: heading})  # fmt: skip

    returns = "Returns: ASN1_SUCCESS if successful, ASN1_ELEMENT_NOT_FOUND if * structure was NULL."
    hits = [
        api(
            "asn1_delete_structure",
            f"Deletes the structure. At the end, * structure is set to NULL. {returns}",
        ),  # fmt: skip
        api("asn1_delete_structure2", f"Deletes the structure. {returns}"),
        api(
            "asn1_dup_node",
            "This function will return an exact copy of the provided "
            "structure. Returns: Return NULL on failure.",
        ),  # fmt: skip
    ]
    got = best_sentence("What does asn1_delete_structure return if *structure was NULL?", hits)
    assert got is not None and (got.excerpt, got.sentence) == (1, returns), got
