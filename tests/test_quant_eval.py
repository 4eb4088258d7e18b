"""Quantization quality from llama.cpp logits: finite, non-negative KLD; Q8_0 beats Q4_K_M."""

from __future__ import annotations

import math
from pathlib import Path


def test_q8_0_is_closer_to_f16_than_q4_k_m(tiny_model, tmp_path: Path):
    from edgekit.quant.evaluate import evaluate_ggufs
    from edgekit.quant.gguf import quantize_model

    files = {
        f.qtype: f.path
        for f in quantize_model(tiny_model.path, ["F16", "Q8_0", "Q4_K_M"], tmp_path)
    }
    texts = [
        "Auxiliary fans are inspected every week by the ventilation officer.",
        "Wait at least thirty minutes before approaching a misfire.",
    ]
    table = evaluate_ggufs(files["F16"], {"Q8_0": files["Q8_0"], "Q4_K_M": files["Q4_K_M"]}, texts)
    for qtype in ("Q8_0", "Q4_K_M"):
        row = table[qtype]
        assert math.isfinite(row["kld"]) and row["kld"] >= 0
        assert 0 <= row["top1"] <= 1 and math.isfinite(row["ppl"])
    assert table["Q8_0"]["kld"] < table["Q4_K_M"]["kld"]
    assert table["reference"]["kld"] == 0.0
