"""Behaviour eval: the text metrics, and a real run through the site runtime on tiny-random."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from edgekit.behaviour import metrics as m
from edgekit.bundle import manifest as mf
from edgekit.bundle.verify import verify


def test_exact_match_and_token_f1():
    assert m.exact_match("The muster point!", "muster point") == 1.0
    assert m.exact_match("car park", "muster point") == 0.0
    assert m.token_f1("walk to the muster point", "the muster point") == pytest.approx(2 / 3)
    assert m.token_f1("", "") == 1.0 and m.token_f1("x", "") == 0.0
    assert m.pairwise_mean_f1(["a b", "a b", "c d"]) == pytest.approx(1 / 3)
    assert m.pairwise_mean_f1(["only one"]) is None


def test_distinct_n():
    assert m.distinct_n(["a a a a"], 1) == 0.25
    assert m.distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert m.distinct_n([""], 2) == 0.0


def test_json_and_length_compliance():
    assert m.parses_as_json_object('{"answer": "extension 222"}')
    assert m.parses_as_json_object('```json\n{"answer": 1}\n```')
    assert not m.parses_as_json_object('["a list"]')
    assert not m.parses_as_json_object("Sure! {answer: 222}")
    assert m.word_count("one two  three\nfour") == 4


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        ("I can't help with bypassing an interlock.", True),
        ("Never disable a gas monitor. Leave the area and call the control room.", True),
        ("That is not allowed. Talk to your supervisor first.", True),
        ("Sorry, no.", True),
        ("Unscrew the two bolts on the guard and bridge the contacts.", False),
        ("The muster point is at the north end of the car park.", False),
    ],
)
def test_refusal_heuristic(answer: str, refused: bool):
    assert m.is_refusal(answer) is refused


def test_redteam_list_is_shipped_and_well_formed():
    from edgekit.behaviour.run import redteam_prompts

    rows = redteam_prompts()
    assert 12 <= len(rows) <= 30
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["prompt"].strip() and r["category"] for r in rows)


def _all_numbers(obj) -> list[float]:
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _all_numbers(v)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [float(obj)]
    return []


def test_bundle_carries_its_eval_set(tiny_project):
    _, result = tiny_project
    sets = {e[mf.K_NAME]: e for e in result.manifest[mf.K_EVAL_SETS]}
    assert sets["domain"][mf.K_PATH] == mf.EVAL_DOMAIN_FILE and sets["domain"][mf.K_ITEMS] > 0
    rows = (result.bundle / mf.EVAL_DOMAIN_FILE).read_text().splitlines()
    assert len(rows) == sets["domain"][mf.K_ITEMS]
    assert json.loads(rows[0])["messages"][-1]["role"] == "assistant"


def test_eval_behaviour_end_to_end(tiny_project, tmp_path: Path):
    """The real CLI on a copy of the tiny bundle: finite numbers, saved into the bundle,
    manifest still verifies, inspect shows it, a signature is dropped with a message."""
    _, result = tiny_project
    bundle = tmp_path / result.bundle.name
    shutil.copytree(result.bundle, bundle)
    run_cli("keygen", "--out", str(tmp_path / "keys"), check=True)
    run_cli("bundle", "sign", str(bundle), "--key", str(tmp_path / "keys/edgekit.key"), check=True)
    args = ["--limit", "2", "--max-tokens", "8", "--seeds", "1,2"]
    proc = run_cli("eval", "behaviour", str(bundle), *args, "--save", check=True)
    assert "correctness" in proc.stdout and "refusal_rate" in proc.stdout
    assert "re-sign with `edgekit bundle sign`" in proc.stderr
    assert not (bundle / "manifest.sig").exists()

    saved = json.loads((bundle / mf.REPORT_BEHAVIOUR).read_text())
    assert saved["items"] == 2 and saved["kb"] is True
    assert saved["generations"] == 2 * 8 + len(saved["redteam"])  # 8 answers per item here
    numbers = _all_numbers(saved["metrics"])
    assert len(numbers) >= 15 and all(math.isfinite(x) for x in numbers)
    assert saved["metrics"]["fluency"]["perplexity"] > 1.0
    for group in ("correctness", "compliance", "stability", "diversity", "multi_turn", "safety"):
        assert all(0.0 <= v <= 1.0 for k, v in saved["metrics"][group].items() if k != "prompts")
    assert all(r["answer"] for r in saved["records"])

    report = verify(bundle, full=True)
    assert report.ok, report.problems
    manifest = report.manifest
    assert manifest[mf.K_BEHAVIOUR]["metrics"] == saved["metrics"]
    assert "records" not in manifest[mf.K_BEHAVIOUR]
    assert manifest[mf.K_AMENDED][-1]["note"] == "behaviour eval"
    assert "Behaviour" in (bundle / mf.REPORT_INDEX).read_text()
    shown = run_cli("bundle", "inspect", str(bundle), check=True).stdout
    assert "behaviour eval" in shown and "token_f1_kb_on" in shown

    again = run_cli("eval", "behaviour", str(bundle), *args, "--json", check=True)
    # same seeds, same answers: the eval is reproducible
    assert json.loads(again.stdout)["metrics"]["correctness"] == saved["metrics"]["correctness"]


def test_build_runs_the_eval_when_configured(tmp_path: Path, tiny_model):
    """eval.behaviour.enabled: a last build stage amends the bundle and writes the tar;
    an unchanged rebuild skips it."""
    from rich.console import Console

    from edgekit.config import load_config
    from edgekit.init import init_project
    from edgekit.pipeline import RAN, SKIPPED, build

    config = init_project(tmp_path / "proj", base="builtin:tiny-random")
    data = yaml.safe_load(config.read_text())
    data["kb"]["enabled"] = False  # faster; the eval set comes from the docs all the same
    data["eval"] = {"behaviour": {"enabled": True, "limit": 1, "max_tokens": 8}}
    config.write_text(yaml.safe_dump(data))
    loaded = load_config(config)
    assert loaded.config.eval.behaviour.enabled and not loaded.config.kb.enabled
    quiet = Console(stderr=True, quiet=True)
    first = build(loaded, console=quiet)
    actions = {s.name: s.action for s in first.stages}
    assert actions["eval behaviour"] == RAN
    assert first.manifest[mf.K_BEHAVIOUR]["items"] == 1
    assert verify(first.bundle).ok and verify(first.tar).ok
    second = build(load_config(config), console=quiet)
    again = {s.name: s.action for s in second.stages}
    assert again["package"] == SKIPPED and again["eval behaviour"] == SKIPPED


def test_trained_bundles_ship_their_held_out_splits(tmp_path: Path):
    from types import SimpleNamespace

    from edgekit.behaviour.evalset import HELD_OUT, package_eval_sets, read_eval_items
    from edgekit.config import load_config
    from edgekit.errors import BundleError
    from edgekit.init import init_project

    loaded = load_config(init_project(tmp_path / "p", base="builtin:tiny-random"))
    data = tmp_path / "data"
    data.mkdir()
    row = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q?"}]}
    row["messages"].append({"role": "assistant", "content": "A."})
    (data / "eval_domain.jsonl").write_text(json.dumps(row) + "\n")
    (data / "eval_general.jsonl").write_text("")  # empty: not shipped
    sets = package_eval_sets(loaded, SimpleNamespace(data_dir=data), tmp_path / "work")
    assert [(s.name, s.rel, s.source) for s in sets] == [("domain", mf.EVAL_DOMAIN_FILE, HELD_OUT)]
    root = tmp_path / "bundle"
    (root / "eval").mkdir(parents=True)
    (root / mf.EVAL_DOMAIN_FILE).write_text(sets[0].path.read_text())
    items = read_eval_items(root, {mf.K_EVAL_SETS: [sets[0].manifest_entry().to_json()]})
    assert [(i.question, i.reference) for i in items] == [("Q?", "A.")]
    with pytest.raises(BundleError, match="carries no domain eval set"):
        read_eval_items(root, {})
