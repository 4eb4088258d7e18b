"""Quantization chosen against a measured budget: `edgekit eval quant`, `gguf: auto` in the
build (table, choice and reason in the bundle's report/quant.json), the config form."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from edgekit.errors import ConfigError

BUDGET = {"max_kld": 0.05, "max_ppl_increase": 3.0}


def _row(qtype: str, size: int, kld: float, dppl: float = 0.0) -> dict:
    from edgekit.quant.auto import within_budget

    row = {"type": qtype, "size": size, "kld": kld, "dppl_pct": dppl}
    return {**row, "within_budget": within_budget(row, BUDGET)}


def test_choose_takes_the_smallest_within_budget_and_says_why():
    from edgekit.quant.auto import choose

    rows = [
        _row("F16", 300, 0.0),
        _row("Q3_K_M", 80, 0.2),
        _row("Q4_K_M", 100, 0.03, 2.0),
        _row("Q8_0", 160, 0.001),
    ]
    chosen, reason = choose(rows, BUDGET)
    assert chosen == "Q4_K_M"
    assert "smallest" in reason and "Q3_K_M exceeded" in reason
    chosen, reason = choose([rows[0], _row("Q4_K_M", 100, 0.03, 4.0)], BUDGET)
    assert chosen == "F16" and "no quantized type within budget" in reason


def test_candidates_are_tried_smallest_first():
    from edgekit.quant.auto import smallest_first

    assert smallest_first(["Q8_0", "Q4_K_M", "Q6_K", "Q3_K_M"]) == [
        "Q3_K_M",
        "Q4_K_M",
        "Q6_K",
        "Q8_0",
    ]


def test_config_auto_budget_and_clear_errors(tmp_path: Path):
    from edgekit.config import load_config

    path = tmp_path / "edgekit.yaml"
    path.write_text(
        "name: demo\nquantize:\n  gguf: auto\n  budget: {max_kld: 0.05, max_ppl_increase: 3%}\n"
    )
    q = load_config(path).config.quantize
    assert q.auto and q.budget.max_ppl_increase == 3.0 and q.budget.max_kld == 0.05
    path.write_text("name: demo\nquantize: {gguf: [Q4_K_M, Q8_0]}\n")
    assert load_config(path).config.quantize.gguf == ["Q4_K_M", "Q8_0"]
    for bad, words in [
        ("quantize: {gguf: best}", ["quantize.gguf", "'auto'"]),
        ("quantize: {gguf: auto, budget: {max_kld: -1}}", ["quantize.budget.max_kld"]),
        ("quantize: {candidates: [Q9]}", ["quantize.candidates", "Q9"]),
        ("quantize: {gguf: []}", ["quantize", "gptq"]),
        ("quantize: {gptq: {group_size: 100}}", ["quantize.gptq.group_size", "power of two"]),
    ]:
        path.write_text(f"name: demo\n{bad}\n")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert all(w in str(info.value) for w in words), str(info.value)


@pytest.fixture(scope="module")
def tiny_ggufs(tiny_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgekit.quant.gguf import quantize_model

    out = tmp_path_factory.mktemp("ggufs")
    quantize_model(tiny_model.path, ["F16", "Q8_0", "Q4_K_M"], out, threads=1)
    return out


def test_eval_quant_cli_finite_kld_q8_closer_than_q4(tiny_ggufs: Path, tmp_path: Path):
    args = ["eval", "quant", str(tiny_ggufs), "--tokens", "512", "--out", str(tmp_path)]
    proc = run_cli(*args, "--json", check=True, env={**os.environ, "EDGEKIT_THREADS": "1"})
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = {r["type"]: r for r in report["rows"]}
    assert set(rows) == {"F16", "Q8_0", "Q4_K_M"}
    for r in rows.values():
        assert math.isfinite(r["kld"]) and r["kld"] >= 0 and math.isfinite(r["ppl"])
        assert 0 <= r["top1"] <= 1 and r["bits_per_weight"] > 0 and r["tokens_per_s"] > 0
    assert rows["Q8_0"]["kld"] < rows["Q4_K_M"]["kld"]
    assert report["chosen"] in rows and report["reason"]
    assert (tmp_path / "quant.json").is_file() and (tmp_path / "quant.png").stat().st_size > 0


def test_build_auto_ships_the_smallest_within_budget_and_records_why(tmp_path: Path):
    """Q3_K_M is over a tight KLD budget on tiny-random, Q8_0 is within it: auto ships Q8_0
    and the bundle's report says so."""
    from rich.console import Console

    from edgekit.bundle.verify import verify_dir
    from edgekit.config import load_config
    from edgekit.init import init_project
    from edgekit.pipeline import build

    config = init_project(tmp_path / "proj", base="builtin:tiny-random")
    data = yaml.safe_load(config.read_text())
    data["quantize"].update(
        gguf="auto", candidates=["Q8_0", "Q3_K_M"], eval_tokens=512, budget={"max_kld": 2e-5}
    )
    data["kb"]["enabled"] = False
    config.write_text(yaml.safe_dump(data))
    result = build(load_config(config), console=Console(stderr=True, quiet=True))
    report = json.loads((result.bundle / "report" / "quant.json").read_text())
    assert report["reference"] == "F16" and report["budget"]["max_kld"] == 0.00002
    rows = {r["type"]: r for r in report["rows"]}
    assert not rows["Q3_K_M"]["within_budget"] and rows["Q8_0"]["within_budget"]
    assert report["chosen"] == "Q8_0"
    assert "Q3_K_M exceeded" in report["reason"] and "smallest" in report["reason"]
    assert report["texts"]["general"] > 0 and report["texts"]["domain"] > 0
    assert (result.bundle / "report" / "quant.png").stat().st_size > 0
    assert [m["type"] for m in result.manifest["models"]] == ["Q8_0"]
    assert verify_dir(result.bundle, full=True).ok
    again = build(load_config(config), console=Console(stderr=True, quiet=True))
    assert {s.name: s.action for s in again.stages}["choose quant (auto)"] == "skipped"
