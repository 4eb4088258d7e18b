"""The streaming LoRA merge: the same weights as peft's merge_and_unload (fp32 exactly, bf16
within one rounding), the base's dtype kept, and peak memory one tensor, not the model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import ModelError
from edgekit.merge import merge_adapter

LLAMA_TARGETS = ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]


def _peft_merged(base_dir: Path, adapter: Path, dtype) -> dict:
    """What peft gives: the base in ``dtype``, the adapter loaded, merge_and_unload."""
    import peft
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    merged = peft.PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return {k: v.detach().clone() for k, v in merged.state_dict().items()}


def _peft_adapter(base_dir: Path, out: Path, **lora) -> Path:
    """A peft LoRA with random A and B (and a changed copy of any modules_to_save)."""
    import peft
    import torch
    import transformers

    torch.manual_seed(3)
    model = transformers.AutoModelForCausalLM.from_pretrained(base_dir)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(init_lora_weights=False, **lora))
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            if "modules_to_save" in name:
                p.add_(torch.randn_like(p) * 0.1)
    wrapped.save_pretrained(out)
    return out


def _load(folder: Path) -> dict:
    from safetensors.torch import load_file

    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return load_file(folder / "model.safetensors")
    out: dict = {}
    for name in sorted(set(json.loads(index.read_text())["weight_map"].values())):
        out |= load_file(folder / name)
    return out


@pytest.mark.parametrize(
    "lora",
    [
        dict(r=8, lora_alpha=16, target_modules=LLAMA_TARGETS),
        dict(  # rsLoRA, per-module rank and alpha, a trained copy of the final norm
            r=8,
            lora_alpha=16,
            use_rslora=True,
            rank_pattern={"v_proj": 4},
            alpha_pattern={"o_proj": 3},
            target_modules=["q_proj", "v_proj", "o_proj"],
            modules_to_save=["model.norm"],
        ),
    ],
    ids=["plain", "rslora-patterns-modules_to_save"],
)
def test_stream_merge_equals_peft_on_tiny_random(tiny_model, tmp_path: Path, lora):
    import torch
    import transformers

    adapter = _peft_adapter(tiny_model.path, tmp_path / "adapter", **lora)
    want = _peft_merged(tiny_model.path, adapter, torch.float32)
    merge_adapter("builtin:tiny-random", adapter, tmp_path / "merged")
    got = _load(tmp_path / "merged")
    base = _load(tiny_model.path)
    # tied embeddings: no lm_head invented, every base tensor there, fp32 kept
    assert "lm_head.weight" not in got and set(got) == set(base)
    changed = 0
    for key, tensor in got.items():
        assert tensor.dtype == torch.float32, key
        assert torch.equal(tensor, want[key]), key  # same ops in the same order: bit-exact
        changed += not torch.equal(tensor, base[key])
    assert changed == 2 * len(lora["target_modules"]) + ("modules_to_save" in lora)
    config = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "float32"
    assert (tmp_path / "merged" / "tokenizer.json").is_file()
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert torch.equal(model.lm_head.weight, want["model.embed_tokens.weight"])


def _bf16_base(tiny_model, out: Path) -> Path:
    """tiny-random saved in bf16, with its tokenizer."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model.path)
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_model.path / name).is_file():
            shutil.copyfile(tiny_model.path / name, out / name)
    return out


def _lora_by_shape(
    shapes: dict[str, tuple[int, int]], out: Path, r: int = 4, alpha: int = 8, seed: int = 0
) -> Path:
    """A PEFT-format LoRA written directly: random A (r, in) and B (out, r) per module,
    fp32, the keys and adapter_config.json peft writes."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for module, (n_out, n_in) in shapes.items():
        tensors[f"base_model.model.{module}.lora_A.weight"] = torch.randn(r, n_in, generator=gen)
        tensors[f"base_model.model.{module}.lora_B.weight"] = (
            torch.randn(n_out, r, generator=gen) * 0.01
        )
    out.mkdir(parents=True)
    save_file(tensors, out / "adapter_model.safetensors", metadata={"format": "pt"})
    targets = sorted({m.rsplit(".", 1)[-1] for m in shapes})
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": r,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": targets,
        "fan_in_fan_out": False,
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
    }
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out


def test_bf16_base_stays_bf16_and_rounds_once(tiny_model, tmp_path: Path):
    import torch

    base_dir = _bf16_base(tiny_model, tmp_path / "bf16")
    base = _load(base_dir)
    shapes = {
        f"model.layers.{i}.self_attn.{p}": tuple(
            base[f"model.layers.{i}.self_attn.{p}.weight"].shape
        )
        for i in range(2)
        for p in ("q_proj", "v_proj")
    }
    adapter = _lora_by_shape(shapes, tmp_path / "adapter")
    lora = _load_adapter(adapter)
    merge_adapter(str(base_dir), adapter, tmp_path / "merged")
    got = _load(tmp_path / "merged")
    assert set(got) == set(base)
    peft_bf16 = _peft_merged(base_dir, adapter, torch.bfloat16)
    for key, tensor in got.items():
        assert tensor.dtype == base[key].dtype, key
        module = key.removesuffix(".weight")
        if module not in shapes:
            assert torch.equal(tensor, base[key]), key
            continue
        a = lora[f"base_model.model.{module}.lora_A.weight"]
        b = lora[f"base_model.model.{module}.lora_B.weight"]
        exact = (base[key].float() + (b @ a) * (8 / 4)).to(torch.bfloat16)
        assert torch.equal(tensor, exact), key  # fp32 sum, one rounding to bf16
        assert not torch.equal(tensor, base[key]), key
        # peft adds in bf16 (delta rounded first): at most a bf16 step apart
        torch.testing.assert_close(tensor, peft_bf16[key], rtol=8e-3, atol=2e-4)
    config = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "bfloat16"


def _load_adapter(adapter: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(adapter / "adapter_model.safetensors")


def test_conv1d_fan_in_fan_out_equals_peft(tiny_model, tmp_path: Path):
    """GPT-2 keeps its projections as (in, out): peft's fan_in_fan_out transposes B @ A."""
    import torch
    import transformers

    base_dir = tmp_path / "gpt2"
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=300)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(base_dir, safe_serialization=True)
    shutil.copyfile(tiny_model.path / "tokenizer.json", base_dir / "tokenizer.json")
    adapter = _peft_adapter(
        base_dir, tmp_path / "adapter", r=4, lora_alpha=4, target_modules=["c_attn"]
    )
    assert json.loads((adapter / "adapter_config.json").read_text())["fan_in_fan_out"]
    want = _peft_merged(base_dir, adapter, torch.float32)
    merge_adapter(str(base_dir), adapter, tmp_path / "merged")
    got = _load(tmp_path / "merged")
    for key, tensor in got.items():
        assert torch.equal(tensor, want[key]), key
    assert not torch.equal(
        got["transformer.h.0.attn.c_attn.weight"],
        _load(base_dir)["transformer.h.0.attn.c_attn.weight"],
    )


def test_pytorch_bin_base_merges_like_safetensors(tiny_model, tmp_path: Path):
    """A base with pytorch_model.bin (read memory-mapped) gives the same safetensors."""
    import torch

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    torch.save(_load(tiny_model.path), bin_dir / "pytorch_model.bin")  # what older HF wrote
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(tiny_model.path / name, bin_dir / name)
    shapes = {
        "model.layers.1.self_attn.q_proj": (64, 64),
        "model.layers.0.mlp.down_proj": (64, 256),
    }
    adapter = _lora_by_shape(shapes, tmp_path / "adapter")
    merge_adapter(str(bin_dir), adapter, tmp_path / "from-bin")
    merge_adapter("builtin:tiny-random", adapter, tmp_path / "from-st")
    got, want = _load(tmp_path / "from-bin"), _load(tmp_path / "from-st")
    assert set(got) == set(want)
    for key, tensor in got.items():
        assert torch.equal(tensor, want[key]), key


def test_refuses_dora_and_adapters_of_another_shape(tiny_model, tmp_path: Path):
    shapes = {"model.layers.0.self_attn.q_proj": (64, 64)}
    dora = _lora_by_shape(shapes, tmp_path / "dora")
    cfg = json.loads((dora / "adapter_config.json").read_text())
    (dora / "adapter_config.json").write_text(json.dumps(cfg | {"use_dora": True}))
    with pytest.raises(ModelError, match="DoRA.*merge_and_unload"):
        merge_adapter("builtin:tiny-random", dora, tmp_path / "out")
    wrong = _lora_by_shape({"model.layers.0.self_attn.q_proj": (64, 48)}, tmp_path / "wrong")
    with pytest.raises(ModelError, match="does not fit the base"):
        merge_adapter("builtin:tiny-random", wrong, tmp_path / "out")
    absent = _lora_by_shape({"lm_head": (49152, 64)}, tmp_path / "head")
    with pytest.raises(ModelError, match="ties lm_head"):
        merge_adapter("builtin:tiny-random", absent, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---- peak memory on a model big enough to tell ----------------------------------------------

BIG = dict(hidden=2048, intermediate=5632, layers=12, kv=256, vocab=32000, per_shard=3)


def _synthetic_llama(out: Path, tokenizer: Path) -> int:
    """A ~1.2 GB bf16 llama-shaped checkpoint in 4 shards (constant weights: only shapes
    matter here). Returns its weights' size in bytes."""
    import torch
    from safetensors.torch import save_file

    h, m, kv = BIG["hidden"], BIG["intermediate"], BIG["kv"]
    shapes = {"model.embed_tokens.weight": (BIG["vocab"], h), "model.norm.weight": (h,)}
    for i in range(BIG["layers"]):
        p = f"model.layers.{i}."
        shapes |= {
            p + "self_attn.q_proj.weight": (h, h),
            p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h),
            p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (m, h),
            p + "mlp.up_proj.weight": (m, h),
            p + "mlp.down_proj.weight": (h, m),
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
        }
    groups: list[list[str]] = [[] for _ in range(BIG["layers"] // BIG["per_shard"])]
    for name in shapes:  # embeddings in the first shard, the final norm in the last
        layer = int(name.split(".")[2]) if name.startswith("model.layers.") else None
        at = -1 if name == "model.norm.weight" else (layer or 0) // BIG["per_shard"]
        groups[at].append(name)
    out.mkdir(parents=True)
    weight_map, total = {}, 0
    for i, names in enumerate(groups, 1):
        file = f"model-{i:05d}-of-{len(groups):05d}.safetensors"
        shard = {n: torch.full(shapes[n], 0.01, dtype=torch.bfloat16) for n in names}
        save_file(shard, out / file, metadata={"format": "pt"})
        total += sum(t.numel() * 2 for t in shard.values())
        weight_map |= {n: file for n in names}
        del shard
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": h,
        "intermediate_size": m,
        "num_hidden_layers": BIG["layers"],
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "vocab_size": BIG["vocab"],
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
    }
    (out / "config.json").write_text(json.dumps(config))
    shutil.copyfile(tokenizer, out / "tokenizer.json")
    return total


PEAK = "from edgekit.memory import peak_rss_bytes; print('PEAK', peak_rss_bytes())"


def _peak_of(code: str, *args: str) -> int:
    """Run ``code`` in a fresh interpreter; its own peak RSS (VmHWM) in bytes."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", f"{code}\n{PEAK}", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return int(proc.stdout.split("PEAK")[-1])


def test_merge_peak_memory_is_a_tensor_not_the_model(tiny_model, tmp_path: Path):
    import torch
    from safetensors import safe_open

    base_dir = tmp_path / "big"
    size = _synthetic_llama(base_dir, tiny_model.path / "tokenizer.json")
    h, kv = BIG["hidden"], BIG["kv"]
    shapes = {}
    for i in range(BIG["layers"]):
        shapes[f"model.layers.{i}.self_attn.q_proj"] = (h, h)
        shapes[f"model.layers.{i}.self_attn.v_proj"] = (kv, h)
    adapter = _lora_by_shape(shapes, tmp_path / "adapter", r=16, alpha=32)
    baseline = _peak_of("import torch, safetensors, edgekit.merge")
    merged = _peak_of(
        "import sys\nfrom edgekit.merge import merge_adapter\nmerge_adapter(*sys.argv[1:])",
        str(base_dir),
        str(adapter),
        str(tmp_path / "merged"),
    )
    extra = merged - baseline
    print(
        f"weights {size / 2**20:.0f} MiB bf16; baseline {baseline / 2**20:.0f} MiB, "
        f"merge {merged / 2**20:.0f} MiB (+{extra / 2**20:.0f} MiB)"
    )
    # the model in fp32 would be +2x size, in bf16 +1x, a whole shard +0.25-0.35x; one
    # q_proj's working set (raw, fp32, delta, out) is ~0.05x: 283 vs 222 MiB when written
    assert extra < 0.2 * size, (baseline, merged, size)
    # and the merge did merge: layer 5's q_proj, against the same sum done here
    out = tmp_path / "merged"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    key = "model.layers.5.self_attn.q_proj.weight"
    assert set(index["weight_map"]) == set(
        json.loads((base_dir / "model.safetensors.index.json").read_text())["weight_map"]
    )
    with safe_open(out / index["weight_map"][key], "pt") as f:
        got = f.get_tensor(key)
    lora = _load_adapter(adapter)
    a = lora["base_model.model.model.layers.5.self_attn.q_proj.lora_A.weight"]
    b = lora["base_model.model.model.layers.5.self_attn.q_proj.lora_B.weight"]
    want = (torch.full((h, h), 0.01, dtype=torch.bfloat16).float() + (b @ a) * 2.0).bfloat16()
    assert torch.equal(got, want)
