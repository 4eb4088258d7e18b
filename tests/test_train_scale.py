"""Training at real sizes: gradient checkpointing (`auto` by model size, and a real run
with it on), a 4-bit base (QLoRA) refused early where it cannot run, and
bench/train_scale.py's shapes, defaults and CPU path."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
from test_train import _train, project

from conftest import REPO
from edgekit.config import load_config
from edgekit.errors import ConfigError


def _bench():
    spec = importlib.util.spec_from_file_location("train_scale", REPO / "bench/train_scale.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- gradient checkpointing -----------------------------------------------------------------
def test_auto_checkpointing_turns_on_from_1b_parameters_by_the_real_qwen_shapes():
    import torch
    from transformers import AutoModelForCausalLM

    from edgekit.train.model_setup import count_parameters, use_gradient_checkpointing

    assert use_gradient_checkpointing("auto", 999_999_999) is False
    assert use_gradient_checkpointing("auto", 1_000_000_000) is True
    assert use_gradient_checkpointing(True, 10) is True  # an explicit setting wins
    assert use_gradient_checkpointing(False, 10**11) is False
    bench = _bench()
    counts, decided = {}, {}
    for size in ("0.5b", "1.5b", "7b"):
        with torch.device("meta"):  # shapes only: no memory, no init
            model = AutoModelForCausalLM.from_config(bench.qwen_config(size))
        counts[size] = count_parameters(model)
        decided[size] = use_gradient_checkpointing("auto", counts[size])
    # the published sizes: Qwen2.5-0.5B 0.49B, 1.5B 1.54B, 7B 7.62B parameters
    assert [round(counts[s] / 1e9, 2) for s in counts] == [0.49, 1.54, 7.62]
    assert decided == {"0.5b": False, "1.5b": True, "7b": True}


def test_training_with_gradient_checkpointing_on_recomputes_every_layer(
    tmp_path: Path, monkeypatch, tiny_model
):
    """`gradient_checkpointing: true` on the tiny model through the trainer: every decoder
    layer runs through torch's checkpoint (non-reentrant), the losses are finite and fall,
    and the adapter record says it was on."""
    import transformers.modeling_utils as mu

    calls = []
    real = mu.checkpoint

    def counting(*args, **kwargs):
        calls.append(kwargs.get("use_reentrant"))
        return real(*args, **kwargs)

    monkeypatch.setattr(mu, "checkpoint", counting)
    cfg = project(
        tmp_path,
        "  max_steps: 4\n  epochs: 100\n  learning_rate: 0.01\n  gradient_checkpointing: true\n",
    )
    result = _train(cfg, tmp_path)
    losses = [json.loads(x)["loss"] for x in result.log.read_text().splitlines()]
    record = json.loads((result.output / "edgekit_adapter.json").read_text())
    assert record["gradient_checkpointing"] is True
    # 2 decoder layers x 4 steps (the held-out eval runs without grad: no checkpoint)
    assert len(calls) == 8 and set(calls) == {False}
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]


def test_checkpointing_changes_no_number_of_lora_training(tiny_model):
    """Recomputing is exact (dropout included: torch replays the RNG): three LoRA steps
    give the same losses and adapter with checkpointing on and off."""
    import torch
    from transformers import AutoModelForCausalLM

    from edgekit.config.train import LoraSection
    from edgekit.train.model_setup import prepare_for_training

    x = torch.randint(0, 1000, (2, 48), generator=torch.Generator().manual_seed(1))
    runs = {}
    for on in (True, False):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_model.path, dtype=torch.float32)
        model, checkpointing = prepare_for_training(model, "lora", LoraSection(), on)
        assert checkpointing is on
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        losses = []
        for _ in range(3):
            loss = model(input_ids=x, labels=x).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(float(loss.detach()))
        lora = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
        runs[on] = losses, lora
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-5)
    assert runs[True][0][-1] < runs[True][0][0]
    for name, weight in runs[True][1].items():
        torch.testing.assert_close(weight, runs[False][1][name], rtol=1e-4, atol=1e-6)


# ---- a 4-bit base (QLoRA) -----------------------------------------------------------------
def test_4bit_base_on_a_cpu_machine_fails_when_the_config_is_read(tmp_path: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check passes here")
    cfg = project(tmp_path, "  quantize_base: 4bit\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    message = str(err.value)
    assert "train.quantize_base" in message
    assert "CUDA" in message and "set train.quantize_base: none" in message


def test_trainer_refuses_a_4bit_base_on_cpu_before_reading_data(tmp_path: Path, tiny_model):
    """A config that skipped validation (built in code) still fails first thing."""
    from edgekit.train.trainer import Trainer

    loaded = load_config(project(tmp_path))
    cfg = loaded.config
    train = cfg.train.model_copy(update={"quantize_base": "4bit"})  # no validation
    loaded = loaded.model_copy(update={"config": cfg.model_copy(update={"train": train})})
    missing = tmp_path / "no-data-here"
    with pytest.raises(ConfigError) as err:
        Trainer(loaded, missing, tmp_path / "out", tiny_model, log_progress=False)
    assert str(loaded.path) in str(err.value)
    assert "train.quantize_base: 4bit (QLoRA) needs an NVIDIA GPU" in str(err.value)
    assert "set train.quantize_base: none" in str(err.value)


def test_4bit_base_names_what_to_do_without_bitsandbytes_or_with_full_finetuning(monkeypatch):
    import edgekit.config.train as train_config
    from edgekit.config.train import TrainSection

    monkeypatch.setattr(train_config, "_has_cuda", lambda: True)  # a GPU, no bitsandbytes
    monkeypatch.setattr(train_config.deps, "has", lambda m: m != "bitsandbytes")
    with pytest.raises(ValueError, match=r"pip install bitsandbytes"):
        TrainSection.model_validate({"quantize_base": "4bit"})
    with pytest.raises(ValueError, match=r"set train.method: lora"):
        TrainSection.model_validate({"method": "full", "quantize_base": "4bit"})
    monkeypatch.setattr(train_config.deps, "has", lambda m: True)
    assert TrainSection.model_validate({"quantize_base": "4bit"}).quantize_base == "4bit"
    assert TrainSection().quantize_base == "none" and TrainSection().gradient_checkpointing == (
        "auto"
    )


@pytest.mark.gpu
def test_qlora_step_on_a_tiny_4bit_qwen(tmp_path: Path):
    """On a CUDA machine with bitsandbytes: the 4-bit load, k-bit preparation, LoRA and a
    step that moves the adapter, as the trainer does them."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    pytest.importorskip("bitsandbytes")
    from edgekit.config.train import LoraSection
    from edgekit.train.model_setup import load_base, prepare_for_training

    bench = _bench()
    model = bench.random_model(bench.qwen_config("tiny"), torch.bfloat16, "cuda")
    model.save_pretrained(tmp_path / "base")
    model = load_base(tmp_path / "base", "4bit", torch.device("cuda"))
    assert getattr(model, "is_loaded_in_4bit", False)
    model, checkpointing = prepare_for_training(model, "lora", LoraSection(), True, quantized=True)
    assert checkpointing
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x = torch.randint(0, 1000, (2, 32), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(input_ids=x, labels=x).loss
    loss.backward()
    opt.step()
    assert math.isfinite(float(loss))
    moved = [n for n, p in model.named_parameters() if p.requires_grad and not p.equal(lora[n])]
    assert moved


# ---- bench/train_scale.py -----------------------------------------------------------------
def test_bench_uses_the_configs_lora_defaults():
    """The bench runs where pydantic is missing (a bare GPU box) with a copy of the LoRA
    defaults and learning rate; the config stays their one home."""
    from edgekit.config.train import LoraSection, TrainSection

    bench = _bench()
    assert vars(bench.LORA_DEFAULTS) == LoraSection().model_dump()
    assert bench.LEARNING_RATE == TrainSection().learning_rate


def test_bench_cpu_run_and_cuda_skip(monkeypatch, capsys):
    bench = _bench()
    monkeypatch.setattr(
        sys, "argv", ["train_scale.py", "--sizes", "tiny", "--steps", "1", "--seq", "32", "--json"]
    )
    assert bench.main() == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    (row,) = result["rows"]
    assert row["size"] == "tiny" and row["loss_finite"] and row["tokens_per_s"] > 0
    assert row["peak_rss_gib"] > 0 and row["tokens"] == "Qwen3 tokenizer"
    assert row["gradient_checkpointing"] is False and row["base"] == "fp32"
    assert any(line.split()[:7] == ["tiny", "0.01B", "fp32", "off", "32", "x", "1"] for line in out)

    import torch

    if torch.cuda.is_available():
        return
    monkeypatch.setattr(sys, "argv", ["train_scale.py", "--device", "cuda", "--json"])
    assert bench.main() == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("skipped: no CUDA device")
    assert json.loads(out[-1])["skipped"].startswith("skipped")
