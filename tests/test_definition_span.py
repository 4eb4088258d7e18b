"""Asked what a glossary term means, the answer is its definition's first clause, and the
reader quotes the term's glossary line over another sentence that only mentions the term
(edgekit.kb.definition). Sentences written for this test."""

from __future__ import annotations

import pytest

FIRER = (
    "Shot firer: a person with a current statutory shot firer permit and a Ridge Mine "
    "authorisation, responsible for charging, connecting and firing a blast."
)
ZH = "巷道：为采矿在地下开凿的通道，用于运输、通风和行人。"


@pytest.mark.parametrize(
    ("question", "sentence", "want"),
    [
        (
            "What does shot firer mean?",
            FIRER,
            "a person with a current statutory shot firer permit and a Ridge Mine authorisation",
        ),
        (
            "What is a shot firer?",
            FIRER,
            "a person with a current statutory shot firer permit and a Ridge Mine authorisation",
        ),
        (
            "What does no-entry barricade mean?",
            "- No-entry barricade (Red): a chain across the full width of the drive, with a "
            "red sign, and a flashing light on roadways.",
            "a chain across the full width of the drive",
        ),
        ("巷道是什么意思？", ZH, "为采矿在地下开凿的通道"),
        ("什么是巷道？", ZH, "为采矿在地下开凿的通道"),
    ],
)
def test_the_definition_of_the_asked_term_is_the_span(question, sentence, want):
    from edgekit.kb.evidence import Evidence, with_span

    evidence = with_span(Evidence(1, sentence, 1.0, 1.0), question)
    assert evidence.span is not None and evidence.span.text == want, evidence.span
    assert sentence[evidence.span.start : evidence.span.end] == want


@pytest.mark.parametrize(
    "question",
    [
        "What does blast mean?",  # not the line's term
        "Who may fire a blast?",  # not a meaning question
        "What does shot firer authorisation mean?",
    ],
)
def test_other_questions_get_no_definition_span(question):
    from edgekit.kb.definition import definition_span

    assert definition_span(question, FIRER) is None


def test_the_reader_quotes_the_glossary_line_of_the_asked_term():
    from edgekit.kb.evidence import best_sentence
    from edgekit.kb.records import Hit

    usage = Hit(
        "g#1",
        "Every detector is checked at the start of every shift. Bump test again after a "
        "detector is dropped, or whenever a reading looks wrong.",
        0.9,
        {"source": "docs/gas.md"},
    )
    glossary = Hit(
        "g#2",
        "Bump test: a short exposure of the detector to a known gas mixture, to prove that "
        "every sensor responds and every alarm works.",
        0.8,
        {"source": "docs/gas.md"},
    )
    evidence = best_sentence("What does bump test mean?", [usage, glossary])
    assert evidence is not None and evidence.excerpt == 2, evidence
    assert evidence.span is not None
    assert evidence.span.text == "a short exposure of the detector to a known gas mixture"
