"""The support check (edgekit.runtime.answer.support): is a generated answer held by the
excerpts it was given, and what is shown instead when it is not."""

from __future__ import annotations

from typing import Any

import pytest

from edgekit.kb.records import Hit
from edgekit.runtime.answer.path import AnswerPlan
from edgekit.runtime.answer.stream import StreamState, settle_answer
from edgekit.runtime.answer.support import (
    DEGENERATE,
    NOT_IN_EXCERPTS,
    NOT_IN_EXCERPTS_ZH,
    UNSUPPORTED,
    abstention,
    judge,
    replacement,
    strip_references,
    supported_prefix,
)

REFUGE = Hit(
    "faq#0",
    "The refuge chamber supports 20 people for 36 hours. Self-rescuers last 30 minutes. "
    "Call the control room on channel 4.",
    0.9,
    {"source": "docs/faq.pdf", "heading": "Refuge > Chambers", "page": 5},
)
API = Hit(
    "api#3",
    "Use asn1_create_element to create a structure. The function returns ASN1_SUCCESS on "
    "success. The asn1Parser tool reads a file with ASN.1 definitions.",
    0.8,
    {"source": "docs/libtasn1.pdf", "heading": "API", "page": 12},
)
HITS = [REFUGE, API]
Q = "How long does the refuge chamber last?"
ZH = Hit(
    "zh#0", "避难硐室可维持36小时，容纳20人。自救器可使用30分钟。", 0.9, {"source": "docs/zh.md"}
)
ZH_Q = "避难硐室能维持多久？"


def reason(answer: str, hits: list[Hit] = HITS, question: str = Q) -> str | None:
    return judge(answer, hits, question).reason


def test_supported_answers_pass():
    assert reason("The refuge chamber supports 20 people for 36 hours [1].") is None
    assert reason("36 hours.") is None
    assert reason("Call asn1_create_element() to create a structure [2].") is None
    assert reason("Self-rescuers last about 30 minutes, then go to the chamber [1].") is None
    # saying the excerpts do not hold the answer claims nothing
    assert reason(NOT_IN_EXCERPTS) is None and reason("I don't know.") is None


def test_invented_number_name_or_code_is_unsupported():
    verdict = judge("It lasts 48 hours [1].", HITS, Q)
    assert verdict.reason == UNSUPPORTED and verdict.missing == ("48",)
    verdict = judge("The chamber was designed by John Smith [1].", HITS, Q)
    assert verdict.reason == UNSUPPORTED and {"John", "Smith"} <= set(verdict.missing)
    assert reason("Call asn1_delete_element() to remove it [2].") == UNSUPPORTED
    assert reason("Run asn1Parser --strict on the file [2].") == UNSUPPORTED
    # a number the question asked about is not evidence either way; an invented one is
    assert reason("asn1Parser listens on TCP port 8080.", question="Which port?") == UNSUPPORTED
    assert reason("I don't know, maybe 48 hours.") == UNSUPPORTED
    # a bare number must stand in an excerpt sentence about the question
    assert reason("The answer is: 36.") is None
    assert reason("The answer is: 4.") == UNSUPPORTED  # channel 4: not about the chamber


def test_a_value_from_a_sentence_about_something_else_is_unsupported():
    # channel 4 and the authors' names are in the excerpts, but not said of the question
    shift = "Who is the electrician on the night shift?"
    assert reason("The night shift electrician is on channel 4.", HITS, shift) == UNSUPPORTED
    authors = Hit(
        "t#0",
        "Fabio Fiorina Simon Josefsson (help-libtasn1@gnu.org)",
        0.5,
        {"source": "docs/libtasn1.pdf", "heading": "Libtasn1 > Fabio Fiorina Simon Josefsson"},
    )
    said = "The night shift electrician is Fabio Fiorina."
    assert reason(said, [authors], shift) == UNSUPPORTED
    # what their sentences say is supported
    assert reason("Call the control room on channel 4.", HITS, shift) is None
    credits = Hit("c#0", "Libtasn1 was written by Fabio Fiorina.", 0.5, {"source": "docs/a.md"})
    assert reason("Fabio Fiorina wrote it.", [credits], "Who wrote libtasn1?") is None


def test_citation_only_path_echo_and_loops_are_degenerate():
    echo = "The answer is: [2] docs/libtasn1.pdf › API (p. 12)"
    assert strip_references(echo, HITS) == "The answer is:"
    for text in (
        echo,
        "\n".join([echo] * 3),
        "[1]",
        "[1] docs/faq.pdf › Refuge > Chambers (p. 5)",
        "",
        "   ",
        "1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1",
        # the question's own words say nothing
        "The refuge chamber lasts.",
        # the same claim twice over (not a loop at the end)
        "It is a tool that parses ASN.1 definitions from a file. Yes, it is a tool that "
        "parses ASN.1 definitions from a file.",
    ):
        assert reason(text) == DEGENERATE, text


def test_chinese_answers_are_judged_by_character_pairs():
    assert reason("避难硐室可维持36小时[1]。", [ZH], ZH_Q) is None
    assert reason("可维持48小时。", [ZH], ZH_Q) == UNSUPPORTED
    assert reason("避难硐室由张三设计，位于北京。", [ZH], ZH_Q) == UNSUPPORTED
    assert reason(NOT_IN_EXCERPTS_ZH, [ZH], ZH_Q) is None
    assert abstention(ZH_Q) == NOT_IN_EXCERPTS_ZH and abstention(Q) == NOT_IN_EXCERPTS


def test_a_bare_list_number_or_english_prose_to_a_chinese_question_is_degenerate():
    """Seen from SmolLM2 on man-db's Chinese man pages under `cite`: "1." and "The doc
    you provided is a reference excerpt from a man page." passed as supported."""
    what = "自救器是什么？"
    assert reason("1.", [ZH], what) == DEGENERATE
    assert reason("2)", HITS, "What is the refuge chamber for?") == DEGENERATE
    assert reason("36", [ZH], ZH_Q) is None  # asks how long: a number is an answer
    prose = "The doc you provided is a reference excerpt about the refuge chamber."
    assert reason(prose, [ZH], ZH_Q) == DEGENERATE
    assert reason("Self-rescuers last 30 minutes.", [ZH], what) != DEGENERATE  # 3 words
    flags = Hit("m#1", "- -I, --match-case: 搜索手册页时匹配大小写。", 1.0, {"source": "man.1"})
    assert reason("-I, --match-case", [flags], "搜索手册页时要匹配大小写，用哪个选项？") is None


def test_replacement_is_a_related_sentence_quoted_or_the_abstention():
    # one question word in a sentence is enough (a lower bar than the extract style's)
    shown = replacement("How many people fit in the refuge chamber and what colour is it?", HITS)
    assert shown.startswith('"') and shown.endswith("[1]")
    assert "The refuge chamber supports 20 people for 36 hours." in shown
    assert replacement("What colour is the sky?", HITS) == NOT_IN_EXCERPTS
    assert replacement("天空是什么颜色？", [ZH]) == NOT_IN_EXCERPTS_ZH


def test_an_answer_that_goes_wrong_keeps_its_supported_first_sentences():
    looping = (
        "The refuge chamber supports 20 people for 36 hours [1]. The answer is: [1] "
        "docs/faq.pdf › Refuge > Chambers (p. 5). The answer is: [1] docs/faq.pdf"
    )
    kept = "The refuge chamber supports 20 people for 36 hours [1]."
    assert reason(looping) == DEGENERATE and supported_prefix(looping, HITS, Q) == kept
    invented = kept + " It was built in 1987 by John Smith."
    assert reason(invented) == UNSUPPORTED and replacement(Q, HITS, answer=invented) == kept
    assert supported_prefix("It was built in 1987. " + kept, HITS, Q) == ""
    # a page label's dot ends no sentence: the kept text is never cut at "(p."
    paged = "Use asn1_create_element (p. 12) to create a structure. It needs libfoo 9.9."
    kept = "Use asn1_create_element (p. 12) to create a structure."
    assert supported_prefix(paged, HITS, "How do I create a structure?") == kept


def test_settle_answer_replaces_only_checked_model_text():
    plan = AnswerPlan([], {"max_tokens": 8}, hits=HITS, question="What colour is the sky?")
    state = StreamState()
    state.guard.feed("The sky is blue, says Dr Brown [1].")
    assert plan.checked and settle_answer(plan, state) == NOT_IN_EXCERPTS
    assert state.replaced == UNSUPPORTED
    fine = StreamState()
    fine.guard.feed("The refuge chamber supports 20 people [1].")
    assert settle_answer(plan, fine) == "The refuge chamber supports 20 people [1]."
    assert fine.replaced is None
    # no excerpts (plain chat) and fixed rule replies are shown as they are
    for unchecked in (
        AnswerPlan([], {"max_tokens": 8}),
        AnswerPlan([], {"max_tokens": 8}, hits=HITS, fixed_reply="Call 222 now."),
    ):
        state = StreamState()
        state.guard.feed("Call 222 now.")
        assert not unchecked.checked and settle_answer(unchecked, state) == "Call 222 now."
        assert state.replaced is None


@pytest.fixture(scope="module")
def embedder() -> Any:
    """The shipped embedder (MiniLM, ONNX), as a bundle's KB uses it."""
    from edgekit.kb.embedder import OnnxEmbedder
    from edgekit.kb.export import DEFAULT_EMBEDDER, cached_embedder

    return OnnxEmbedder(cached_embedder(DEFAULT_EMBEDDER)[0])


def test_the_fallback_abstains_on_a_sentence_far_from_the_question_in_meaning(embedder: Any):
    licence = Hit(
        "gpl#9",
        "Your license is reinstated if the copyright holder notifies you of the violation "
        "within 30 days.",
        0.9,
        {"source": "docs/manual.pdf", "heading": "Appendix > License"},
    )
    warranty = "How many days is the warranty on the device?"
    # it shares "days" and holds a number: quoted on words alone, not on meaning
    assert replacement(warranty, [licence]).endswith("[1]")
    assert replacement(warranty, [licence], embedder) == NOT_IN_EXCERPTS
    near = "How many people fit in the refuge chamber and what colour is it?"
    assert replacement(near, HITS, embedder).startswith('"The refuge chamber supports 20')


def test_the_best_sentence_is_not_quoted_when_it_shares_words_but_not_meaning(embedder: Any):
    from edgekit.kb.evidence import best_sentence

    fans = Hit(
        "vent#3",
        "The main fan protects the crew by pushing fresh air through every heading. "
        "A stopped fan must run for fifteen minutes before anyone re-enters.",
        0.9,
        {"source": "docs/ventilation.md", "heading": "Ventilation > Fans"},
    )
    brain = "What protects the brain?"  # half its words are in the sentence, not its sense
    assert best_sentence(brain, [fans]) is not None  # words alone would quote it
    assert best_sentence(brain, [fans], embedder) is None
    for near, starts in (
        ("What keeps the crew safe from bad air?", "The main fan"),
        ("How long must a stopped fan run?", "A stopped fan"),
    ):
        got = best_sentence(near, [fans], embedder)
        assert got is not None and got.sentence.startswith(starts), near
