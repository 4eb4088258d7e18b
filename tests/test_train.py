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

    from edgekit.train.tokenize import load_examples

    tok = AutoTokenizer.from_pretrained(tiny_model.path)
    examples = load_examples(tok, tmp_path / "data", "sft", 128)
    teacher = AutoModelForCausalLM.from_pretrained(tiny_model.path).eval()
    with torch.no_grad():
        logits = teacher(input_ids=torch.tensor([examples[0]["input_ids"]])).logits
    same = float(kl_loss(logits, [cached[0]], 2.0))
    other = float(kl_loss(torch.randn_like(logits) * 5, [cached[0]], 2.0))
    assert same < 1e-4 and other > 0.05, (same, other)
    assert result.steps == 3


def _random_teacher(tiny_model, out: Path, seed: int) -> Path:
    """tiny-random's architecture and tokenizer with other (seeded, larger) weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model.path)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_model.path).save_pretrained(out)
    return out


def test_distillation_changes_training_through_the_teacher(tmp_path: Path, tiny_model):
    """Same seed, data and steps: with a teacher the loss mixes in a non-zero KL term and the
    adapter differs from plain SFT, and from one trained against another teacher."""
    from safetensors.torch import load_file

    extra = "  max_steps: 4\n  epochs: 100\n  learning_rate: 0.01\n  eval_every: 1000\n"
    runs = {}
    for name, teacher_seed in (("plain", None), ("teacher1", 1), ("teacher2", 2)):
        folder = tmp_path / name
        folder.mkdir()
        cfg_extra = extra
        if teacher_seed is not None:
            teacher = _random_teacher(tiny_model, tmp_path / f"t{teacher_seed}", teacher_seed)
            cfg_extra += f"  distill: {{teacher: '{teacher}', weight: 0.5, top_k: 8}}\n"
        result = _train(project(folder, cfg_extra), folder)
        rows = [json.loads(x) for x in result.log.read_text().splitlines()]
        weights = load_file(result.output / "adapter_model.safetensors")
        runs[name] = rows, weights

    plain_rows, plain_w = runs["plain"]
    assert len(plain_rows) == 4 and all("distill_kl" not in r for r in plain_rows)
    for name in ("teacher1", "teacher2"):
        rows, _ = runs[name]
        assert len(rows) == 4
        for r in rows:  # the KL term is there, non-zero, and is what the loss mixes in
            assert r["distill_kl"] > 0.01, (name, r)
            assert r["loss"] == pytest.approx(0.5 * r["ce"] + 0.5 * r["distill_kl"], rel=1e-5)
        # step 1 starts from the same weights on the same batch: same cross-entropy, and
        # the logged loss differs only by the teacher's term
        assert rows[0]["ce"] == pytest.approx(plain_rows[0]["loss"], rel=1e-5)
        assert rows[0]["loss"] != pytest.approx(plain_rows[0]["loss"], rel=1e-3)
    assert runs["teacher1"][0][0]["distill_kl"] != pytest.approx(
        runs["teacher2"][0][0]["distill_kl"], rel=1e-3
    )

    def max_diff(a: dict, b: dict) -> float:
        assert a.keys() == b.keys()
        return max(float((a[k] - b[k]).abs().max()) for k in a)

    # distillation moved the adapter away from plain SFT, and which teacher it was matters
    vs_plain = max_diff(plain_w, runs["teacher1"][1])
    vs_other_teacher = max_diff(runs["teacher1"][1], runs["teacher2"][1])
    assert vs_plain > 1e-3 and vs_other_teacher > 1e-3, (vs_plain, vs_other_teacher)


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


REFUGE_DOC = """# Refuge Chambers

## Capacity

Each refuge chamber holds twenty miners for thirty-six hours. The shift supervisor checks its
oxygen cylinders every week.

## Self-rescuers

Every miner carries a self-rescuer on the belt. A self-rescuer gives thirty minutes of oxygen
after a fire.
"""

# What the scripted teacher writes: questions per section (keyed by the section's opening
# words; other sections get no question) and an answer per question.
TEACHER_QUESTIONS = {
    "Each refuge chamber": "1. How long does a refuge chamber hold twenty miners?\n"
    "2. Who checks the oxygen cylinders of a refuge chamber?",
    "Every miner carries": "- How long does a self-rescuer give oxygen?\n"
    "- How long does a refuge chamber hold twenty miners for?\n"
    "- Where does every miner carry the self-rescuer?\nThat is all.",
}
TEACHER_ANSWERS = {
    "How long does a refuge chamber hold twenty miners?": (
        "A refuge chamber holds twenty miners for thirty-six hours."
    ),
    "Who checks the oxygen cylinders of a refuge chamber?": "Bananas are yellow and sweet.",
    "How long does a self-rescuer give oxygen?": "A self-rescuer gives thirty minutes of oxygen.",
    # supported by its (self-rescuer) section, but the question repeats a kept one
    "How long does a refuge chamber hold twenty miners for?": "Every miner carries a self-rescuer.",
    "Where does every miner carry the self-rescuer?": "Every miner carries it on the belt.",
}


class ScriptedTeacher:
    """A deterministic local teacher: counts its calls, answers from the tables above."""

    def __init__(self) -> None:
        self.id = "scripted-teacher"
        self.calls = 0

    def generate(self, batch: list[list[dict[str, str]]], max_new_tokens: int) -> list[str]:
        out = []
        for messages in batch:
            self.calls += 1
            prompt = messages[-1]["content"]
            if "\nQuestion: " in prompt:
                out.append(TEACHER_ANSWERS[prompt.rsplit("\nQuestion: ", 1)[1]])
            else:
                text = prompt.split("Text:\n", 1)[1]
                key = next((k for k in TEACHER_QUESTIONS if text.startswith(k)), None)
                out.append(TEACHER_QUESTIONS[key] if key else "I cannot think of any.")
        return out


def test_self_instruct_keeps_supported_novel_pairs_bounded_and_resumable(
    tmp_path: Path, monkeypatch
):
    import edgekit.generate as generate

    teacher, asked_for = ScriptedTeacher(), []

    def make_generator(spec: str) -> ScriptedTeacher:
        asked_for.append(spec)
        return teacher

    monkeypatch.setattr(generate, "make_generator", make_generator)
    cfg = project(tmp_path)
    (tmp_path / "docs" / "refuge.md").write_text(REFUGE_DOC)
    cfg.write_text(
        cfg.read_text().replace(
            "data: {",
            "data: {augment: {teacher: 'local/teacher.gguf', max_pairs: 2, "
            "questions_per_chunk: 3, min_support: 0.5}, rules: [faq], ",
        )
    )
    card = build_data(load_config(cfg), tmp_path / "data")
    assert asked_for == ["local/teacher.gguf"]
    assert card.per_rule == {"faq": 1, "self_instruct": 2}
    assert card.dropped == {
        "self-instruct: unsupported": 1,  # the bananas answer
        "self-instruct: near-duplicate": 1,  # "... hold twenty miners for?"
        "self-instruct: over max_pairs": 1,  # the belt question: supported, novel, third
        "self-instruct: no question parsed": 1,  # vent.md's Main Fans section
    }
    rows = [
        json.loads(x)
        for f in ("train.jsonl", "eval_domain.jsonl")
        for x in (tmp_path / "data" / f).read_text().splitlines()
    ]
    kept = [r for r in rows if r["rule"] == "self_instruct"]
    kept.sort(key=lambda r: r["messages"][1]["content"])
    assert [(r["source"], r["messages"][1:]) for r in kept] == [
        (
            "Refuge Chambers",
            [
                {"role": "user", "content": "How long does a refuge chamber hold twenty miners?"},
                {
                    "role": "assistant",
                    "content": "A refuge chamber holds twenty miners for thirty-six hours.",
                },
            ],
        ),
        (
            "Refuge Chambers",
            [
                {"role": "user", "content": "How long does a self-rescuer give oxygen?"},
                {"role": "assistant", "content": "A self-rescuer gives thirty minutes of oxygen."},
            ],
        ),
    ]
    assert all(r["messages"][0]["role"] == "system" for r in kept)
    calls, cache = teacher.calls, (tmp_path / "data" / "augment-cache.jsonl").read_text()
    assert calls == 3 + 5  # one question call per long section, one answer call per question
    again = build_data(load_config(cfg), tmp_path / "data")  # every teacher call cached
    assert teacher.calls == calls
    assert again.per_rule == card.per_rule and again.dropped == card.dropped
    assert (tmp_path / "data" / "augment-cache.jsonl").read_text() == cache


def test_data_build_cli_reports_the_card(tmp_path: Path):
    from conftest import run_cli

    cfg = project(tmp_path, general="self-replay")
    proc = run_cli("data", "build", str(cfg), "--out", str(tmp_path / "d"), check=True)
    assert "per rule:" in proc.stdout and "'faq': 1" in proc.stdout
    assert (tmp_path / "d" / "card.json").is_file()
    bad = run_cli("data", "build", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2


FAQ_DOC = """# Evacuation FAQ

## Q: What do I do when the siren sounds?

Stop work and switch off your machine. Take your self-rescuer from your belt.

Walk to the nearest refuge chamber by the marked route. Do not run.

Report to the supervisor at the chamber door and wait for the roll call.

## Q: Where is the muster point?

At the car park.
"""


def test_split_parts_packs_sentences_up_to_the_limit():
    from edgekit.data.build import split_parts

    text = "One two three. Four five.\n\nSix seven eight nine. Ten!"
    assert split_parts(text, 30) == ["One two three. Four five.", "Six seven eight nine. Ten!"]
    assert split_parts(text, 14) == [
        "One two three.",
        "Four five.",
        "Six seven eight nine.",
        "Ten!",
    ]
    # a sentence longer than the limit stays whole (it is never cut mid-sentence)
    assert split_parts("A very long sentence here. Short.", 10) == [
        "A very long sentence here.",
        "Short.",
    ]


def test_long_faq_answers_become_exact_multi_turn_dialogues(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "evac.md").write_text(FAQ_DOC)
    cfg = tmp_path / "edgekit.yaml"
    cfg.write_text(
        "name: t\ndocs: docs\nmodel: {base: 'builtin:tiny-random'}\n"
        "prompt: {system: 'Be brief.'}\n"
        "data: {rules: [faq], general: none, grounded: false, eval_fraction: 0.0,"
        " multi_turn_chars: 100}\n"
    )
    card = build_data(load_config(cfg), tmp_path / "data")
    rows = [json.loads(x) for x in (tmp_path / "data" / "train.jsonl").read_text().splitlines()]
    by_question = {r["messages"][1]["content"]: r["messages"] for r in rows}
    assert by_question["What do I do when the siren sounds?"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What do I do when the siren sounds?"},
        # sentences packed into parts of at most 100 characters, across paragraphs
        {
            "role": "assistant",
            "content": "Stop work and switch off your machine. "
            "Take your self-rescuer from your belt.",
        },
        {"role": "user", "content": "And then?"},  # follow-ups: seeded (data.seed 0)
        {
            "role": "assistant",
            "content": "Walk to the nearest refuge chamber by the marked route. Do not run.",
        },
        {"role": "user", "content": "And then?"},
        {
            "role": "assistant",
            "content": "Report to the supervisor at the chamber door and wait for the roll call.",
        },
    ]
    assert by_question["Where is the muster point?"] == [  # short: one turn
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is the muster point?"},
        {"role": "assistant", "content": "At the car park."},
    ]
    assert card.multi_turn == 1 and card.per_rule == {"faq": 2} and len(rows) == 2


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes_gives_an_adapter_like_one_process(
    tmp_path: Path, tiny_model
):
    """The README's scale-out command, on CPU: 2 processes over gloo train one adapter that
    has the files, keys and shapes of a single-process run and loads onto the base."""
    import os

    import torch
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from edgekit.train.trainer import train

    extra = "  max_steps: 4\n  epochs: 100\n  learning_rate: 0.01\n  eval_every: 2\n"
    cfg = project(tmp_path, extra)
    loaded = load_config(cfg)

    # accelerate's `--cpu` flag starts one process (more only through an MPI hostfile); the
    # documented `--multi_gpu --num_processes N` form runs N processes, on CPU over gloo
    # HF_HOME: no accelerate config of this machine's; no GPU: this is the CPU (gloo) path
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    launch = [
        str(Path(sys.executable).with_name("accelerate")),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        "-m",
        "edgekit",
        "train",
        str(cfg),
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "two"),
    ]
    proc = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the launch built the data (rank 0, the other waiting); one process trains on the same
    assert (tmp_path / "data" / "train.jsonl").is_file()
    single = train(loaded, tmp_path / "data", tmp_path / "one", tiny_model, progress=False)
    assert proc.stdout.count("4 steps") == 1, proc.stdout  # only the main process reports
    assert "2 process(es)" in proc.stdout, proc.stdout

    one, two = single.output, tmp_path / "two" / "adapter"
    record = json.loads((two / "edgekit_adapter.json").read_text())
    assert record["processes"] == 2
    assert json.loads((one / "edgekit_adapter.json").read_text())["processes"] == 1
    assert record["base_sha256"] == tiny_model.sha256
    rows = [json.loads(x) for x in (tmp_path / "two" / "train-log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # one writer
    assert "eval_domain" in rows[1] and "eval_domain" in rows[3]

    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in two.iterdir())

    def adapter_config(folder: Path) -> dict:
        config = json.loads((folder / "adapter_config.json").read_text())
        config["target_modules"] = sorted(config["target_modules"])  # a set, saved as a list
        return config

    assert adapter_config(one) == adapter_config(two)
    w1 = load_file(one / "adapter_model.safetensors")
    w2 = load_file(two / "adapter_model.safetensors")
    assert {k: v.shape for k, v in w1.items()} == {k: v.shape for k, v in w2.items()}
    assert any(float(v.abs().max()) > 0 for k, v in w2.items() if "lora_B" in k)  # trained

    base = AutoModelForCausalLM.from_pretrained(tiny_model.path)
    model = PeftModel.from_pretrained(base, two)
    loaded_w = get_peft_model_state_dict(model)
    assert loaded_w.keys() == w2.keys()
    assert all(bool((loaded_w[k] == w2[k]).all()) for k in w2)
    logits = model(input_ids=torch.tensor([[1, 2, 3, 4]])).logits
    assert logits.shape == (1, 4, base.config.vocab_size) and bool(torch.isfinite(logits).all())
