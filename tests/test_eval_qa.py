"""`edgekit eval qa` through the real CLI on the tiny bundle: numbers a hand count gives,
and the bundle is left byte-for-byte as it was."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from edgekit.bundle.verify import verify
from edgekit.fsutil import sha256_tree

QUESTIONS = [
    # the template docs say "Call the control room on extension 222 ..."
    {
        "question": "Which extension do I call in an emergency?",
        "answers": ["extension 222"],
        "source": "faq.md",
    },
    {"question": "What does a continuous siren mean?", "answers": ["muster point"]},
    {"question": "How much does a monthly gym membership cost for staff?", "answers": []},
]


def test_eval_qa_counts_by_hand_and_leaves_the_bundle_unchanged(tiny_project, tmp_path: Path):
    _, result = tiny_project
    bundle = result.bundle
    before = sha256_tree(bundle)
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    out = tmp_path / "qa-result.json"
    # extract: the answer is the excerpts' best-matching sentence, quoted and cited; the
    # tiny random model only answers the unanswerable question (no sentence matches it)
    args = ["eval", "qa", str(bundle), "--set", str(qa), "--split", "all", "--style", "extract"]
    run_cli(*args, "--out", str(out), check=True)
    got = json.loads(out.read_text())
    m = got["metrics"]
    assert (m["items"], m["answerable"], m["unanswerable"]) == (3, 2, 1)
    assert m["answer_accuracy"] == 1.0 and m["citation_accuracy"] == 1.0
    # both quotes cite an excerpt holding the answer; the first is the FAQ's sentence (its
    # heading is the question), not the induction document's near copy of it
    assert m["inline_citation_accuracy"] == 1.0 and m["retrieval_hit"] == 1.0
    assert m["degenerate_rate"] == 0.0
    first = got["records"][0]
    # the answer span first, then the FAQ's sentence quoted with the span in bold
    assert first["answer"].startswith('222\n\n"Call the control room on extension **222**." [')
    assert first["answer"].endswith("]") and first["scores"]["correct"] is True
    assert first["scores"]["cited_inline"] is True
    assert sha256_tree(bundle) == before and verify(bundle).ok
    table = run_cli(
        "eval",
        "qa",
        str(bundle),
        "--set",
        str(qa),
        "--split",
        "all",
        "--style",
        "extract",
        check=True,
    )
    assert "answer right" in table.stdout and "1.000" in table.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q?"}\n')
    proc = run_cli("eval", "qa", str(bundle), "--set", str(bad))
    assert proc.returncode != 0 and "bad.jsonl:1" in proc.stderr


def test_a_trial_that_cannot_win_stops_early(tiny_project, tmp_path: Path):
    """The settings choice prunes a trial once it could not be clearly better than the
    best so far even with every item left right; one that can still win answers every
    item."""
    from edgekit.bundle.answer_settings import AnswerSettings
    from edgekit.qa.choose import Trial, cannot_win
    from edgekit.qa.evalset import read_qa_file
    from edgekit.qa.run import QASession, utility

    _, result = tiny_project
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    items = read_qa_file(qa)
    session = QASession.open(result.bundle, threads=1)
    base = AnswerSettings.from_manifest(session.site.manifest).with_values(max_tokens=16)
    nothing_right = Trial((0.0,) * 3, (0.0,) * 3, False, (0.0,) * 3)
    extract = session.evaluate(
        items, base.with_values(prompt_style="extract"), hopeless=cannot_win(nothing_right, 3)
    )
    # both answerable items quoted right; the random model's answer to the unanswerable
    # one is not held by the excerpts and becomes the abstention (edgekit.runtime.answer.support)
    assert not extract["pruned"] and len(extract["records"]) == 3
    assert utility(extract["metrics"]) == 1.0
    # no excerpt fits in the budget: the random model's own (unchecked) answer to the first
    # item is wrong where extract's was right, and extract got the rest right too: nothing
    # left can make it better
    blind = base.with_values(prompt_style="cite", context_tokens=1)
    cite = session.evaluate(items, blind, hopeless=cannot_win(Trial.of(extract), 3))
    assert cite["pruned"] and len(cite["records"]) == 1
