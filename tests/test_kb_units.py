"""Chunking and context assembly, on plain strings."""

from __future__ import annotations

from edgekit.kb.chunking import chunk_text, sentences
from edgekit.kb.context import build_context, edges_first, ordered, user_turn
from edgekit.kb.records import Hit
from edgekit.kb.retrieve import FusionWeights, fuse


def words(text: str) -> int:
    return len(text.split())


def test_sentences_split_on_punctuation_and_lines():
    text = "First one. Second one!\n- item a\n- item b\nThird? yes."
    got = [text[s.start : s.end] for s in sentences(text)]
    assert got == ["First one.", "Second one!", "- item a", "- item b", "Third?", "yes."]


def test_a_full_stop_after_an_abbreviation_does_not_end_the_sentence():
    # from a real PDF spec: the answer ("-x-generic") was cut off at "(e.g."
    text = (
        'The icon uses the top-level media type (e.g. "video" in "video/ogg") and appends '
        '"-x-generic" (i.e. "video-x-generic"). See Fig. 3 and Dr. Li. Oil, water etc. are '
        "fluids etc. The answer is no. Next. Written by John W. Eaton. Limits (p. 12) apply."
    )
    got = [text[s.start : s.end] for s in sentences(text)]
    assert got == [
        'The icon uses the top-level media type (e.g. "video" in "video/ogg") and appends '
        '"-x-generic" (i.e. "video-x-generic").',
        "See Fig. 3 and Dr. Li.",
        "Oil, water etc. are fluids etc.",
        "The answer is no.",
        "Next.",
        "Written by John W. Eaton.",  # an initial (man-db's man page: the name was cut)
        "Limits (p. 12) apply.",  # a page reference of a citation
    ]


def test_an_option_list_run_into_one_line_splits_at_each_entry():
    # libtasn1's PDF manual: the option table came out as one line of 70 words
    text = (
        "Usage: asn1Decoding [OPTION] DEFINITIONS ENCODED ASN1TYPE "
        "-b, --benchmark perform a benchmark on decoding -s, --strict use strict DER "
        "decoding; see -t, -H or -Z.\n- -t, --test: 执行正确性检查。"
    )
    got = [text[s.start : s.end] for s in sentences(text)]
    assert got == [
        "Usage: asn1Decoding [OPTION] DEFINITIONS ENCODED ASN1TYPE",
        "-b, --benchmark perform a benchmark on decoding",
        "-s, --strict use strict DER decoding; see -t, -H or -Z.",
        "- -t, --test: 执行正确性检查。",  # a list item keeps its marker
    ]


def test_chunks_respect_budget_keep_sentences_and_overlap():
    text = " ".join(f"Sentence number {i} has six words." for i in range(20))
    spans = chunk_text(text, words, max_tokens=20, overlap_tokens=6)
    pieces = [text[s.start : s.end] for s in spans]
    assert all(words(p) <= 20 for p in pieces)
    assert all(p.startswith("Sentence") and p.endswith(".") for p in pieces)
    for a, b in zip(spans, spans[1:]):
        assert b.start < a.end, "consecutive chunks must overlap"
        assert words(text[b.start : a.end]) <= 6
    covered = "".join(pieces)
    assert all(f"number {i} " in covered for i in range(20))


def test_a_table_that_fits_one_chunk_is_not_cut():
    """From a real man page (realdocs zh dev): the chunk ended after row 3 of the
    section table, so row 8 went to a chunk without the table's caption and retrieval
    never found it. A table that fits one chunk now starts the next chunk, caption first;
    one over twice the chunk size is still cut, and the chunk after the cut starts at a row."""
    rows = "\n".join(f"{i} | Section {i} kind" for i in range(1, 10))
    text = "Intro one is here. Intro two is here. Intro three is here.\n\n"
    text += f"The table lists each section.\n\n{rows}\n\nAfter the table."
    pieces = [text[s.start : s.end] for s in chunk_text(text, words, 60, 8)]
    assert pieces[1].startswith("The table lists") and "9 | Section 9 kind" in pieces[1]
    assert "1 | Section" not in pieces[0]
    # up to twice the chunk size, a table is one chunk of its own, and none overlaps it
    big = [text[s.start : s.end] for s in chunk_text(text, words, 40, 8)]
    assert big[1].startswith("The table lists") and big[1].endswith("9 | Section 9 kind")
    assert big[2] == "After the table."
    cut = [text[s.start : s.end] for s in chunk_text(text, words, 20, 4)]
    assert any(p.startswith("The table lists") and "9 |" not in p for p in cut)


def test_an_overlong_sentence_is_cut_on_words():
    text = "word " * 50 + "end."
    spans = chunk_text(text.strip(), words, max_tokens=10, overlap_tokens=0)
    assert len(spans) == 6 and all(words(text[s.start : s.end]) <= 10 for s in spans)


def hit(n: int, tokens: int = 5) -> Hit:
    meta = {"source": f"doc{n}.md", "heading": f"H{n}", "page": -1}
    return Hit(f"id{n}", " ".join(["w"] * tokens), 1.0 / n, meta)


def test_edges_first_puts_best_at_both_ends():
    ordered = edges_first([hit(i) for i in range(1, 7)])
    assert [h.id for h in ordered] == ["id1", "id3", "id5", "id6", "id4", "id2"]


def test_context_budget_and_citations():
    hits = [hit(1), hit(2, tokens=100), hit(3)]
    ctx = build_context(hits, words, budget=20)
    assert [h.id for h in ctx.hits] == ["id1", "id3"]  # the long one did not fit
    assert ctx.citations() == ["[1] doc1.md › H1", "[2] doc3.md › H3"]
    prompt = user_turn("Why?", ctx, "cite")
    assert prompt.endswith("Question: Why?") and "[2] doc3.md › H3" in prompt
    assert user_turn("Why?", build_context([], words, 10), "cite") == "Why?"
    short = user_turn("Why?", ctx, "short")
    assert short.startswith("[1] doc1.md › H1") and "Question: Why?\nAnswer" in short


def test_excerpt_orders():
    hits = [hit(i) for i in range(1, 5)]
    assert [h.id for h in ordered(hits, "rank")] == ["id1", "id2", "id3", "id4"]
    assert [h.id for h in ordered(hits, "edges")] == ["id1", "id3", "id4", "id2"]
    assert [h.id for h in ordered(hits, "best_last")] == ["id4", "id3", "id2", "id1"]
    ctx = build_context(hits, words, budget=100, order="best_last")
    assert ctx.text.startswith("[4] doc4.md") and ctx.text.rstrip().endswith("w")
    assert ctx.citations()[0] == "[1] doc1.md › H1"


def test_fusion_beats_each_parent_on_a_split_decision():
    bm25 = [(0, 9.0), (1, 8.9), (2, 1.0)]
    vec = [(0, 0.20), (1, 0.90), (2, 0.85)]
    assert fuse(bm25, vec, FusionWeights(0.5, 0.5))[0][0] == 1
    rrf = fuse(bm25, vec, FusionWeights(1.0, 1.0, method="rrf"))
    assert {i for i, _ in rrf} == {0, 1, 2}
