"""GPTQ export with GPTQModel: tiny-random -> GPTQ checkpoint -> transformers loads it and
generates; its quality row against the F16 GGUF; the group size that divides every width."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

GENERATE = """
import sys, torch, transformers
path = sys.argv[1]
tok = transformers.AutoTokenizer.from_pretrained(path)
model = transformers.AutoModelForCausalLM.from_pretrained(
    path, device_map="cpu", dtype=torch.float32
)
ids = tok("Wait thirty minutes before approaching a misfire because", return_tensors="pt")
out = model.generate(**ids, max_new_tokens=8, min_new_tokens=8, do_sample=False)
layer = type(model.model.layers[0].self_attn.q_proj).__module__
print(layer, out.shape[1] - ids["input_ids"].shape[1])
"""


def test_group_size_divides_every_input_width(tiny_model):
    from edgekit.quant.gptq import choose_group_size, input_widths

    assert input_widths(tiny_model.path) == {64, 256}
    assert choose_group_size(tiny_model.path, 32) == (32, None)
    group, note = choose_group_size(tiny_model.path, 128)
    assert group == 64 and note and "using 64" in note


def test_calibration_samples_spread_cut_and_fill():
    from edgekit.quant.gptq import calibration_samples

    many = [f"Domain sentence number {i}. " * 10 for i in range(300)]
    chosen, note = calibration_samples(many, 128)
    assert len(chosen) == 128 and note is None and chosen[0] == many[0]
    long = ["A sentence about ventilation.\n\n" * 100]
    chosen, _ = calibration_samples(long, 8)
    assert len(chosen) == 8
    chosen, note = calibration_samples(["short domain text"], 4, fill=["g1", "g2", "g3"])
    assert chosen == ["short domain text", "g1", "g2", "g3"] and "general" in (note or "")


def test_gptq_cli_loads_in_transformers_generates_and_is_measured(tiny_model, tmp_path: Path):
    pytest.importorskip("gptqmodel")
    pytest.importorskip("optimum")
    docs = tmp_path / "calib.txt"
    docs.write_text(
        "\n\n".join(f"Check the auxiliary fan in bay {i} every week." for i in range(40))
    )
    out = tmp_path / "out"
    env = {**os.environ, "EDGEKIT_THREADS": "1"}
    run_cli(
        "quantize",
        str(tiny_model.path),
        "--gguf",
        "F16",
        "--gptq",
        "bits=4,group_size=128,samples=16",
        "--calibration",
        str(docs),
        "--out",
        str(out),
        check=True,
        env=env,
        cwd=tmp_path,
    )
    gptq = out / "gptq"
    q = json.loads((gptq / "config.json").read_text())["quantization_config"]
    assert q["quant_method"] == "gptq" and q["bits"] == 4 and q["group_size"] == 64
    assert q.get("checkpoint_format", q.get("format")) == "gptq"
    assert not (tmp_path / "logs").exists() and (out / "logs").is_dir()  # not in the cwd

    proc = subprocess.run(
        [sys.executable, "-c", GENERATE, str(gptq)],
        capture_output=True,
        text=True,
        env={**env, "TORCHDYNAMO_DISABLE": "1"},
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    layer, new_tokens = proc.stdout.strip().splitlines()[-1].split()
    assert layer.startswith("gptqmodel.")  # a GPTQ kernel, not a plain nn.Linear
    assert int(new_tokens) == 8

    report = json.loads(
        run_cli("eval", "quant", str(out), "--tokens", "256", "--json", check=True, env=env)
        .stdout.strip()
        .splitlines()[-1]
    )
    row = next(r for r in report["rows"] if r.get("format") == "gptq")
    assert row["type"] == "GPTQ-W4G64"
    assert math.isfinite(row["kld"]) and row["kld"] >= 0 and 0 <= row["top1"] <= 1
    assert row["tokens_per_s"] > 0
