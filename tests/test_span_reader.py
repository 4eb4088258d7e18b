"""The answer-span reader's SQuAD-style cues (edgekit.kb.span, tuned with
bench/answer_span.py): the word before the question word, the verb of "What did X <verb>?",
the noun after "what"/"which", names with a number, a share for "what percentage", and
"when" as a date question only when it asks for one. Sentences written for this test."""

from __future__ import annotations

import pytest

CASES = [
    # (question, sentence, expected span, expected kind)
    (
        "Removing barriers to trade is meant to reduce what?",
        "Removing barriers to trade, like free movement of goods, is meant to reduce "
        "consumer prices.",
        "consumer prices",
        "words",
    ),
    (
        "What did Baran develop?",
        "In 1960 Baran developed distributed message switching, a new idea.",
        "distributed message switching",
        "words",
    ),
    (
        "What space station supported three crews?",
        "The program used Skylab, a space station that supported three crews in 1973.",
        "Skylab",
        "name",
    ),
    (
        "Who was elected president of the club?",
        "In March 2001 the members elected Maria Lopez president of the club.",
        "Maria Lopez",
        "name",
    ),
    (
        "What Apollo mission landed last?",
        "The final mission, Apollo 17, landed last in 1972.",
        "Apollo 17",
        "name",
    ),
    (
        "What percentage of the vote did the party win?",
        "In 2012 the party won 75% of the vote in 3 regions.",
        "75%",
        "number",
    ),
    (
        "What type of combustion does the coating prevent?",
        "The coating reacts slowly, so it prevents spontaneous combustion.",
        "spontaneous",
        "words",
    ),
    (  # a size written onto its number (zlib's usage example)
        "How much memory does deflateInit() allocate for the internal state?",
        "deflateInit() will allocate on the order of 256K bytes for the internal state.",
        "256K bytes",
        "number",
    ),
    (  # "where" in a manual: a directory
        "Where must public modules be installed?",
        "Public modules must be installed in the system modules directory, "
        "/usr/lib/python3/dist-packages.",
        "/usr/lib/python3/dist-packages",
        "code",
    ),
]


@pytest.mark.parametrize(("question", "sentence", "want", "kind"), CASES)
def test_span_of_squad_style_questions(question, sentence, want, kind):
    from edgekit.kb.span import answer_span

    span = answer_span(question, sentence)
    assert span is not None and span.text == want, span
    assert sentence[span.start : span.end] == span.text and span.kind == kind


def test_when_asks_for_a_date_only_as_the_question_word():
    from edgekit.kb.span import question_kind

    assert question_kind("When was the mine opened?") == "date"
    assert question_kind("The shift ends when?") == "date"
    assert question_kind("What was he charged with when he was arrested?") == "words"
    assert question_kind("When Iqbal travelled, what did he promote?") == "words"


def test_a_size_suffix_is_a_number_and_a_directory_answers_where():
    """A "how much" question must be answered by a sentence holding a number: "256K" is
    one; a "where" question by a sentence holding a name or a path."""
    from edgekit.kb.span import kind_match

    assert kind_match("How big is the buffer?", "Buffers of 128K or 4GB are best.") == 1.0
    assert kind_match("Where are wheels kept?", "Wheels are kept in /usr/share/wheels.") == 1.0
    assert kind_match("Where are wheels kept?", "wheels are kept elsewhere.") == 0.0


def test_the_sentence_naming_a_thing_of_the_asked_type_is_quoted():
    """Asked "Which field ...?", the sentence saying "<name> field" beats one sharing more
    of the question's words (Debian Python Policy, 4.4; text shortened for this test)."""
    from edgekit.kb.evidence import best_sentence
    from edgekit.kb.records import Hit
    from edgekit.kb.typed_name import names_type

    question = "Which field of the source paragraph specifies the Python 3 versions supported?"
    fields = Hit(
        "p#1",
        "The X-Python3-Version field sets the Python 3 versions.",
        0.9,
        {"source": "docs/policy.pdf"},
    )
    control = Hit(
        "p#2",
        "The source paragraph may contain optional fields to specify the versions supported.",
        0.9,
        {"source": "docs/policy.pdf"},
    )
    assert names_type(question, fields.text) and not names_type(question, control.text)
    assert not names_type(question, "The Main field is optional.")  # a capital opening it
    # the question's own words are its context, not the thing it asks for
    asked = "Which function returns a string describing a libtasn1 error code?"
    assert not names_type(asked, "error: an error returned by a libtasn1 function.")
    # a flag names an option, not a package
    package = "Which package should be used when building extensions?"
    assert not names_type(package, "Modules may avoid a dependency on the -dev packages.")
    assert names_type("Which option sets the width?", "The -w option sets the width.")
    evidence = best_sentence(question, [control, fields])
    assert evidence is not None and evidence.sentence.startswith("The X-Python3-Version")
