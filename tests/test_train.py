"""Data rules, SFT masking, LoRA/full training, resume, distillation on builtin:tiny-random."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.config import load_config
from edgekit.data.build import build_data

DOC = """# Ventilation Handbook

This handbook explains how air moves through the mine.

## Main Fans

The main fans run all the time. They are checked every shift.

**Regulator**: a door with an opening that controls airflow into a district.

## Q: What happens when a fan stops?

Everyone leaves the heading and reports to the control room.
"""


def project(
    tmp_path: Path, extra: str = "", general: str = "none", base: str = "builtin:tiny-random"
) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "vent.md").write_text(DOC)
    (docs / "notes.md").write_text("# Notes\n\nShort note about dust.\n\n## Dust\n\nWet it.\n")
    cfg = tmp_path / "edgekit.yaml"
    cfg.write_text(
        f"name: t\ndocs: docs\nmodel: {{base: '{base}'}}\n"
        f"data: {{general: {general}, grounded: false, eval_fraction: 0.2, replay_ratio: 1.0,"
        " replay_max_tokens: 16}\n"
        "train:\n  enabled: true\n  precision: fp32\n  batch_size: 2\n  max_seq_len: 128\n"
        "  gate: false\n" + extra
    )
    return cfg


def test_rules_give_the_expected_pairs(tmp_path: Path):
    loaded = load_config(project(tmp_path))
    card = build_data(loaded, tmp_path / "data")
    rows = [
        json.loads(x)
        for f in ("train.jsonl", "eval_domain.jsonl")
        for x in (tmp_path / "data" / f).read_text().splitlines()
    ]
    pairs = {(r["rule"], r["messages"][1]["content"]): r["messages"][2]["content"] for r in rows}
    assert pairs[("faq", "What happens when a fan stops?")].startswith("Everyone leaves")
    assert pairs[("title_body", "What does the Ventilation Handbook document cover?")] == (
        "This handbook explains how air moves through the mine."
    )
    assert (
        "checked every shift"
        in pairs[("heading_section", "What does the Ventilation Handbook say about Main Fans?")]
    )
    assert pairs[("definitions", "What is meant by 'Regulator'?")].startswith("Regulator: a door")
    assert card.per_rule == {"title_body": 2, "heading_section": 2, "faq": 1, "definitions": 1}
    assert card.eval_domain == 1 and card.train_domain == 5 and card.train_replay == 0
    assert (tmp_path / "data" / "card.png").stat().st_size > 1000
    # pretraining text keeps the training sections and never the held-out answers
    pretrain = (tmp_path / "data" / "pretrain.txt").read_text()
    held_out = [
        json.loads(x)["messages"][-1]["content"]
        for x in (tmp_path / "data" / "eval_domain.jsonl").read_text().splitlines()
    ]
    assert held_out and all(answer not in pretrain for answer in held_out)
    assert "checked every shift" in pretrain or "checked every shift" in held_out[0]


def test_rules_are_switchable_and_custom_rules_load(tmp_path: Path, monkeypatch):
    mod = tmp_path / "myrules.py"
    mod.write_text("def shout(doc):\n    return [('Title?', doc.title.upper())]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = project(tmp_path)
    cfg.write_text(
        cfg.read_text().replace("data: {", "data: {rules: [faq], custom_rules: ['myrules:shout'], ")
    )
    card = build_data(load_config(cfg), tmp_path / "data")
    assert card.per_rule == {"faq": 1, "myrules:shout": 2}


def test_self_replay_uses_the_base_model_and_holds_out_general(tmp_path: Path):
    # a random-weight model answers with blank lines (dropped as empty): use the real one
    cfg = project(tmp_path, general="self-replay", base="builtin:smollm2-135m")
    card = build_data(load_config(cfg), tmp_path / "data")
    assert card.train_replay == card.train_domain  # replay_ratio 1.0
    general = [
        json.loads(x) for x in (tmp_path / "data/eval_general.jsonl").read_text().splitlines()
    ]
    assert len(general) == card.eval_general >= 1
    assert all(r["rule"] == "replay" and r["messages"][-1]["role"] == "assistant" for r in general)
    cache = (tmp_path / "data" / "replay-cache.jsonl").read_text().splitlines()
    again = build_data(load_config(cfg), tmp_path / "data")  # cached: nothing regenerated
    assert again.train_replay == card.train_replay
    assert (tmp_path / "data" / "replay-cache.jsonl").read_text().splitlines() == cache


def test_sft_labels_cover_only_assistant_tokens(tiny_model):
    from transformers import AutoTokenizer

    from edgekit.train.tokenize import IGNORE, sft_example

    tok = AutoTokenizer.from_pretrained(tiny_model.path)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is the muster point?"},
        {"role": "assistant", "content": "At the car park."},
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "Wait for the roll call."},
    ]
    ex = sft_example(tok, messages, 512)
    labelled = tok.decode([t for t in ex["labels"] if t != IGNORE])
    assert labelled == "At the car park.<|im_end|>\nWait for the roll call.<|im_end|>\n"
    assert ex["labels"][0] == IGNORE and len(ex["labels"]) == len(ex["input_ids"])


def _train(cfg: Path, tmp_path: Path, resume: bool = False):
    from edgekit.models import prepare_model
    from edgekit.train.trainer import train

    loaded = load_config(cfg)
    data = tmp_path / "data"
    if not (data / "train.jsonl").is_file():
        build_data(loaded, data)
    return train(
        loaded,
        data,
        tmp_path / "out",
        prepare_model("builtin:tiny-random"),
        resume=resume,
        progress=False,
    )


def test_lora_steps_reduce_training_loss_and_record_the_base(tmp_path: Path, tiny_model):
    cfg = project(
        tmp_path, "  max_steps: 30\n  epochs: 100\n  learning_rate: 0.01\n  eval_every: 10\n"
    )
    result = _train(cfg, tmp_path)
    rows = [json.loads(x) for x in result.log.read_text().splitlines()]
    first, last = sum(r["loss"] for r in rows[:3]) / 3, sum(r["loss"] for r in rows[-3:]) / 3
    assert last < first - 0.5, (first, last)
    assert [r["step"] for r in rows] == list(range(1, 31))
    assert "eval_domain" in rows[9] and "eval_general" not in rows[9]  # general: none
    record = json.loads((result.output / "edgekit_adapter.json").read_text())
    assert record["base_sha256"] == tiny_model.sha256
    assert (tmp_path / "out" / "loss.png").is_file()


def test_full_finetune_writes_a_model(tmp_path: Path):
    cfg = project(tmp_path, "  method: full\n  max_steps: 2\n  learning_rate: 0.001\n")
    result = _train(cfg, tmp_path)
    assert (result.output / "config.json").is_file()
    assert (result.output / "edgekit_model.json").is_file()
    assert (result.output / "tokenizer.json").is_file()


def test_resume_after_kill_continues_from_the_checkpoint(tmp_path: Path):
    extra = (
        "  max_steps: 40\n  epochs: 100\n  save_every: 4\n  learning_rate: 0.005\n"
        "  eval_every: 1000\n"
    )
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir()
    run_dir.mkdir()
    reference = _train(project(ref_dir, extra), ref_dir)
    cfg = project(run_dir, extra)
    build_data(load_config(cfg), run_dir / "data")
    cmd = [
        sys.executable,
        "-m",
        "edgekit",
        "train",
        str(cfg),
        "--data",
        str(run_dir / "data"),
        "--out",
        str(run_dir / "out"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((run_dir / "out" / "checkpoints").glob("step-8")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpts = sorted(
        int(p.name.split("-")[1])
        for p in (run_dir / "out" / "checkpoints").glob("step-*")
        if "tmp" not in p.name
    )
    assert ckpts and ckpts[-1] < 40, "the run was not interrupted"
    assert not (run_dir / "out" / "adapter").exists()
    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    rows = [json.loads(x) for x in (run_dir / "out" / "train-log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows]
    assert steps[-1] == 40 and steps.count(ckpts[-1] + 1) >= 1
    ref_rows = [json.loads(x) for x in reference.log.read_text().splitlines()]
    ref_loss = {r["step"]: r["loss"] for r in ref_rows}
    # the resumed part repeats the uninterrupted run's loss curve (weights, optimizer and
    # data order were all restored)
    for r in rows[-5:]:
        assert r["loss"] == pytest.approx(ref_loss[r["step"]], rel=1e-3, abs=1e-3)


def test_distillation_loss_against_a_teacher(tmp_path: Path, tiny_model):
    import torch

    from edgekit.train.distill import kl_loss

    cfg = project(
        tmp_path,
        "  max_steps: 3\n  distill: {teacher: 'builtin:tiny-random', weight: 0.5, top_k: 8}\n",
    )
    result = _train(cfg, tmp_path)
    caches = list((tmp_path / "out").glob("teacher-sft-*.pt"))
    assert len(caches) == 1
    cached = torch.load(caches[0])
    assert cached[0]["idx"].shape[1] == 8
    # KL is ~0 for a student identical to the teacher, and clearly positive for another one
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from edgekit.train.trainer import _examples

    tok = AutoTokenizer.from_pretrained(tiny_model.path)
    examples = _examples(tok, tmp_path / "data", "sft", 128)
    teacher = AutoModelForCausalLM.from_pretrained(tiny_model.path).eval()
    with torch.no_grad():
        logits = teacher(input_ids=torch.tensor([examples[0]["input_ids"]])).logits
    same = float(kl_loss(logits, [cached[0]], 2.0))
    other = float(kl_loss(torch.randn_like(logits) * 5, [cached[0]], 2.0))
    assert same < 1e-4 and other > 0.05, (same, other)
    assert result.steps == 3


def test_build_trains_merges_quantizes_and_chats(tmp_path: Path):
    from rich.console import Console

    from conftest import run_cli
    from edgekit.bundle import manifest as mf
    from edgekit.pipeline import SKIPPED, build

    cfg = project(tmp_path, "  max_steps: 3\n  experts: {vent: ['vent*.md']}\n")
    result = build(load_config(cfg), console=Console(quiet=True))
    names = [s.name for s in result.stages]
    assert {"build data", "train", "eval forgetting", "merge adapter", "train [vent]"} <= set(names)
    training = result.manifest[mf.K_TRAINING]
    assert training[mf.K_METHOD] == "lora" and "domain" in training[mf.K_FORGETTING]
    assert result.manifest[mf.K_EXPERTS] == [
        {
            "name": "vent",
            "path": "adapters/vent",
            "patterns": ["vent*.md"],
            "gguf": "adapters/vent/adapter.gguf",
        }
    ]
    assert (result.bundle / "adapters" / "vent" / "adapter_config.json").is_file()
    assert "gguf lora [vent]" in names
    chat = run_cli(
        "chat", str(result.bundle), "What is a regulator?", "--max-tokens", "6", check=True
    )
    assert chat.stdout.strip()
    again = build(load_config(cfg), console=Console(quiet=True))
    assert {s.action for s in again.stages} == {SKIPPED}


def test_self_instruct_filters():
    from edgekit.data.augment import parse_questions, rouge_l, support

    text = "Auxiliary fans are inspected every week by the ventilation officer."
    assert support("The ventilation officer inspects fans every week.", text) > 0.6
    assert support("Bananas are yellow and sweet.", text) == 0.0
    assert rouge_l("How often are fans inspected?", "How often are fans inspected?") == 1.0
    assert rouge_l("How often are fans inspected?", "Who owns the truck?") < 0.3
    got = parse_questions("1. How often are fans inspected?\n- Who inspects them?\nNoise\n", 5)
    assert got == ["How often are fans inspected?", "Who inspects them?"]


def test_self_instruct_with_a_local_teacher_is_bounded_and_resumable(tmp_path: Path):
    cfg = project(tmp_path, base="builtin:smollm2-135m")
    cfg.write_text(
        cfg.read_text().replace(
            "data: {",
            "data: {augment: {teacher: 'builtin:smollm2-135m', max_pairs: 2, "
            "questions_per_chunk: 2, min_support: 0.3}, rules: [faq], ",
        )
    )
    card = build_data(load_config(cfg), tmp_path / "data")
    kept = card.per_rule.get("self_instruct", 0)
    assert kept <= 2
    assert kept + sum(n for r, n in card.dropped.items() if r.startswith("self-instruct")) > 0
    cache = (tmp_path / "data" / "augment-cache.jsonl").read_text()
    again = build_data(load_config(cfg), tmp_path / "data")  # every teacher call cached
    assert again.per_rule == card.per_rule
    assert (tmp_path / "data" / "augment-cache.jsonl").read_text() == cache


def test_data_build_cli_reports_the_card(tmp_path: Path):
    from conftest import run_cli

    cfg = project(tmp_path, general="self-replay")
    proc = run_cli("data", "build", str(cfg), "--out", str(tmp_path / "d"), check=True)
    assert "per rule:" in proc.stdout and "'faq': 1" in proc.stdout
    assert (tmp_path / "d" / "card.json").is_file()
    bad = run_cli("data", "build", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2
