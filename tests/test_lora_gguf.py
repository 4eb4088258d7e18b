"""PEFT LoRA -> GGUF LoRA: llama.cpp loads it, and base + LoRA matches the merged model."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def test_gguf_lora_matches_the_merged_model(tiny_model, tmp_path: Path):
    import llama_cpp
    import peft
    import torch
    import transformers

    from edgekit.merge import merge_adapter
    from edgekit.quant.gguf import convert_to_f16
    from edgekit.quant.lora_gguf import peft_to_gguf

    torch.manual_seed(1)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model.path)
    cfg = peft.LoraConfig(
        r=4,
        lora_alpha=8,
        init_lora_weights=False,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"],
    )
    lora = peft.get_peft_model(model, cfg)
    with torch.no_grad():  # a strong adapter, so a wrong mapping or permutation shows
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.mul_(20)
    lora.save_pretrained(tmp_path / "adapter")
    merge_adapter("builtin:tiny-random", tmp_path / "adapter", tmp_path / "merged")
    convert_to_f16(tiny_model.path, tmp_path / "base.gguf")
    convert_to_f16(tmp_path / "merged", tmp_path / "merged.gguf")
    peft_to_gguf(tmp_path / "adapter", tiny_model.path, tmp_path / "lora.gguf")

    def logits(path: Path, lora_path: Path | None = None) -> np.ndarray:
        llm = llama_cpp.Llama(
            str(path),
            lora_path=str(lora_path) if lora_path else None,
            n_ctx=128,
            logits_all=True,
            verbose=False,
            n_threads=1,
        )
        tokens = llm.tokenize(b"The ventilation officer checks the fans", add_bos=False)
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)])

    with_lora = logits(tmp_path / "base.gguf", tmp_path / "lora.gguf")
    merged = logits(tmp_path / "merged.gguf")
    base = logits(tmp_path / "base.gguf")
    assert np.abs(base - merged).max() > 0.1  # the adapter matters
    assert np.abs(with_lora - merged).max() < 0.01  # F16 noise only


def test_adapter_to_gguf_cli(tiny_model, tmp_path: Path):
    from test_merge_quantize import make_adapter

    from conftest import run_cli

    adapter = make_adapter(tiny_model, tmp_path / "adapter")
    proc = run_cli(
        "adapter",
        "to-gguf",
        str(adapter),
        "--base",
        "builtin:tiny-random",
        "--out",
        str(tmp_path / "a.gguf"),
        check=True,
    )
    assert "wrote" in proc.stdout and (tmp_path / "a.gguf").stat().st_size > 1000
