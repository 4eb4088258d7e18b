"""Loop detection, QA scoring by hand count, and the answer settings' order of precedence."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.kb.records import Hit
from edgekit.qa.score import (
    abstained,
    cited_numbers,
    contains,
    normalize,
    score_answer,
    summarize,
    token_f1,
)
from edgekit.runtime.answer.loops import LoopGuard, find_loop, is_degenerate, trim_loop
from edgekit.runtime.answer.path import AnswerPlan
from edgekit.runtime.answer.stream import StreamState, answer_text, stream_plan


def test_find_loop_on_the_loops_small_models_fall_into():
    assert find_loop("Step " + "1." * 20) is not None
    loop = find_loop("Hi. " + "The answer is: " * 4)
    assert loop is not None and loop.period == len("The answer is: ") and loop.repeats == 4
    assert loop.trimmed("Hi. " + "The answer is: " * 4) == "Hi. The answer is:"
    for fine in (
        "The refuge chamber supports 20 people for 36 hours [1].",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "Methane: 1.0% warning, 1.25% withdrawal, 2.0% evacuation.",
        "no no no",
    ):
        assert find_loop(fine) is None, fine
    assert is_degenerate("1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1 \n")
    assert trim_loop("Go to " + "the gate, " * 5) == "Go to the gate,"
    assert trim_loop("36 hours.") == "36 hours."


class Repeater:
    """A stand-in token stream that never stops repeating (as a looping model does)."""

    def __init__(self, unit: str) -> None:
        self.unit, self.pieces = unit, 0

    def create_chat_completion(self, messages, stream, **kw):
        for _ in range(kw["max_tokens"]):
            self.pieces += 1
            yield {"choices": [{"delta": {"content": self.unit}, "finish_reason": None}]}
        yield {"choices": [{"delta": {}, "finish_reason": "length"}]}


def test_loop_guard_stops_a_repeating_generation():
    llm = Repeater("1.")
    plan = AnswerPlan([{"role": "user", "content": "q"}], {"max_tokens": 500})
    text, state = answer_text(llm, plan)
    assert state.loop_stopped and state.finish_reason == "stop"
    assert llm.pieces < 20  # stopped early, not at max_tokens
    assert text == "1."
    off = AnswerPlan(plan.messages, {"max_tokens": 50}, loop_guard=False)
    state = StreamState()
    assert len(list(stream_plan(Repeater("1."), off, state))) == 50
    assert not state.loop_stopped and state.finish_reason == "length"
    guard = LoopGuard()
    assert not any(guard.feed(w) for w in "The refuge chamber holds 20 people .".split())


def test_scoring_matches_a_hand_count():
    item = SimpleNamespace(answers=("36 hours",), source="docs/faq.md", page=None, answerable=True)
    none = SimpleNamespace(answers=(), source=None, page=None, answerable=False)
    gold = {"text": "It supports 20 people for 36 hours.", "source": "docs/faq.md", "page": None}
    other = {"text": "Self-rescuers last 30 minutes.", "source": "docs/ppe.md", "page": None}
    wrong_doc = {"text": "36 hours", "source": "docs/other.md", "page": None}
    same_doc = {"text": "Refuge chambers are yellow.", "source": "docs/faq.md", "page": None}
    s1 = score_answer(item, "About 36 hours [2].", [other, gold])
    assert s1 == {
        "answerable": True,
        "abstained": False,
        "degenerate": False,
        "correct": True,
        "token_f1": pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1), abs=1e-4),
        "reply_f1": pytest.approx(0.8, abs=1e-4),  # no span: the short answer is the reply
        "answer_words": 3,
        "cited": True,
        "cited_inline": True,
        "retrieval_rank": 2,
    }
    s2 = score_answer(item, "36 hour [2]", [wrong_doc, same_doc], [same_doc, wrong_doc, gold])
    assert (s2["correct"], s2["cited"], s2["cited_inline"], s2["retrieval_rank"]) == (
        False,
        False,
        False,
        3,
    )
    s3 = score_answer(none, "I do not know.", [other])
    s4 = score_answer(none, "Thirty.", [other])
    got = summarize([s1, s2, s3, s4], [1.0, 2.0, 3.0, 4.0])
    assert got["answer_accuracy"] == 0.5 and got["citation_accuracy"] == 0.5
    assert got["inline_citation_accuracy"] == 0.5 and got["retrieval_hit"] == 1.0
    assert got["abstention_rate"] == 0.5 and got["false_abstention_rate"] == 0.0
    assert got["degenerate_rate"] == 0.0 and got["seconds_per_answer"] == 2.5
    assert got["answer_words"] == 2.5 and got["reply_f1"] == got["token_f1"]
    assert (got["items"], got["answerable"], got["unanswerable"]) == (4, 2, 2)


def test_text_rules():
    assert normalize("The  Answer, is: 36 Hours!") == "answer is 36 hours"
    assert contains("about 1.0% methane", ["1.0%"]) and not contains("10 hours", ["0 hours"])
    assert contains("避难硐室可维持36小时", ["36小时"])
    # the span's bold marks inside a quoted Chinese sentence (man-db's Chinese man.1)
    assert contains(
        '"- man ls: 显示 项目 (程序) ls 对应的**手册页**。"', ["显示 项目 (程序) ls 对应的手册页"]
    )
    assert token_f1("the red car", ["red car"]) == 1.0
    assert cited_numbers("see [1] and [2, 3]") == {1, 2, 3}
    assert abstained("The excerpts do not contain this.") and not abstained("36 hours.")


def test_settings_order_defaults_then_manifest_then_choice():
    manifest = {
        "runtime": {
            "max_tokens": 99,
            "answer": {"top_k": 2, "prompt_style": "short"},
            "answer_config": {"top_k": 5},
        },
        "kb": {"top_k": 6, "context_tokens": 500, "fusion": {"bm25": 0.7, "vector": 0.3}},
    }
    chosen = AnswerSettings.from_manifest(manifest)
    assert (chosen.top_k, chosen.prompt_style, chosen.max_tokens) == (2, "short", 99)
    assert (chosen.context_tokens, chosen.bm25_weight) == (500, 0.7)
    config = AnswerSettings.from_manifest(manifest, chosen=False)
    assert (config.top_k, config.prompt_style) == (5, "cite")
    assert AnswerSettings.from_manifest({}) == AnswerSettings()
    with pytest.raises(ValueError, match="excerpt_order"):
        AnswerSettings(excerpt_order="random")


def test_evidence_sentence_and_its_grammar():
    from edgekit.kb.evidence import best_sentence, gbnf_literal, quote_grammar, quoted

    hits = [
        Hit("a", "Ventilation is checked daily. Fans run at all times.", 1.0, {}),
        Hit("b", 'A refuge chamber supports 20 people for 36 hours. It is "sealed".', 0.5, {}),
    ]
    ev = best_sentence("How long does a refuge chamber support people?", hits)
    assert ev is not None and ev.excerpt == 2
    assert ev.sentence == "A refuge chamber supports 20 people for 36 hours."
    # the answer span first, then the quote with the span marked, then the citation
    assert quoted(ev) == '36 hours\n\n"A refuge chamber supports 20 people for **36 hours**." [2]'
    assert best_sentence("What is the tax office phone number?", hits) is None
    assert gbnf_literal('say "hi"\nnow\\') == r'"say \"hi\"\nnow\\"'
    grammar = quote_grammar(ev)
    assert grammar.startswith(r'root ::= "36 hours\n\n\"A refuge chamber') and "rest ::=" in grammar


def test_evidence_counts_the_section_heading_of_a_sentence():
    """An FAQ answer rarely repeats its question's words; its heading does (the
    mine-safety FAQ: "How long does my self-rescuer last?")."""
    from edgekit.kb.evidence import best_sentence

    hits = [
        Hit("d", "SCSR (self-contained self-rescuer): a small breathing device.", 1.0, {}),
        Hit(
            "f",
            "Every person carries a 30-minute SCSR. Running shortens it.",
            0.9,
            {"heading": "FAQ > Q: How long does my self-rescuer last?"},
        ),
    ]
    ev = best_sentence("How long does a self-rescuer last?", hits)
    assert ev is not None and ev.sentence == "Every person carries a 30-minute SCSR."
    # without the heading the FAQ sentence does not win: excerpt 1's definition shares more
    # words but holds no duration, so the reader gives no sentence at all
    plain = best_sentence("How long does a self-rescuer last?", hits, use_headings=False)
    assert plain is None


def _metrics(right: int, abstain: int, answerable: int = 10, unanswerable: int = 2) -> dict:
    return {
        "items": answerable + unanswerable,
        "answerable": answerable,
        "unanswerable": unanswerable,
        "answer_accuracy": right / answerable,
        "abstention_rate": abstain / unanswerable,
    }


def test_tuning_gate_ships_only_a_better_tuned_model_within_budget():
    from edgekit.qa.gate import decide

    base = _metrics(right=5, abstain=1)
    better = decide(base, _metrics(right=7, abstain=1), 1.05, 1.25, 0.0)
    assert better.shipped == "tuned" and "tuned 0.667 vs base 0.500" in better.reason
    worse = decide(base, _metrics(right=4, abstain=1), 1.05, 1.25, 0.0)
    assert worse.shipped == "base" and "does not answer better" in worse.reason
    tie = decide(base, _metrics(right=5, abstain=1), None, 1.25, 0.0)
    assert tie.shipped == "base"
    small = decide(base, _metrics(right=6, abstain=1), None, 1.25, 0.1)
    assert small.shipped == "base"  # +0.083 is under the required gain
    forgot = decide(base, _metrics(right=9, abstain=2), 1.4, 1.25, 0.0)
    assert forgot.shipped == "base" and "general PPL x1.40 > x1.25" in forgot.reason
    warned = decide(base, _metrics(right=4, abstain=1), None, 1.25, 0.0, enforced=False)
    assert warned.shipped == "tuned" and "shipping the tuned model anyway" in warned.reason


def test_settings_choice_prefers_utility_then_citations_and_keeps_ties():
    from edgekit.qa.choose import Trial, better, sign_test

    def trial(right: str, cited: str = "", pruned: bool = False) -> Trial:
        cited = cited or "1" * len(right)
        return Trial(tuple(map(float, right)), tuple(map(float, cited)), pruned)

    base = trial("1100000000", "1111111111")
    # 5 more right answers, none lost: 1 in 32 by luck; wins over citations
    assert better(trial("1111111000", "0000000000"), base)
    assert not better(base, trial("1111111000", "0000000000"))
    # one more right answer (and 4 wins to 1 loss: 3 in 16 by luck) is not clear enough
    assert not better(trial("1110000000"), base)
    assert not better(trial("0111110000"), base)
    assert round(sign_test(4, 1), 4) == 0.1875 and sign_test(0, 0) == 1.0
    assert better(trial("1111100000"), base)  # 3 more, none lost: 1 in 8 by luck
    # same right answers: cited excerpts decide, by as much
    assert better(trial("1100000000", "1111111111"), trial("1100000000", "1111110000"))
    assert not better(trial("1100000000", "1111111111"), trial("1100000000", "1111111110"))
    assert not better(base, base)  # a full tie keeps what was there
    assert not better(trial("1111111111", pruned=True), base)  # a pruned trial never wins
