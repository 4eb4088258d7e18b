"""`edgekit merge`: fold a PEFT LoRA adapter into its base model (safetensors out).

The merge streams: the base's weights are read one tensor at a time straight from its
files (never a transformers model), each tensor that has a LoRA pair becomes
``W + scale * (B @ A)`` computed in fp32 for that tensor alone and cast back to the base's
dtype, every other tensor is copied byte for byte, and the output is written tensor by
tensor into shards laid out like the base's. Peak memory is one tensor in fp32 (plus a few
MiB of copy buffer), not the model: a 7B bf16 base merges in well under 1 GiB of RAM and
writes 14 GiB, not 28. An fp32 base gives exactly what peft's ``merge_and_unload`` gives
(same operations in the same order); a bf16/f16 base keeps its dtype and is rounded once.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.errors import ModelError
from edgekit.fsutil import atomic_write_json, replace_dir, sha256_tree, temp_dir_beside
from edgekit.memory import release_free_memory
from edgekit.model_records import (
    A_BASE_SHA256,
    A_BASE_SPEC,
    ADAPTER_RECORD,
    M_SHA256,
    M_SPEC,
    MODEL_RECORD,
    read_record,
)
from edgekit.models import PreparedModel, checkpoint_hash, prepare_model
from edgekit.tensorfiles import (
    FLOAT_CODES,
    ST_DTYPES,
    TensorRef,
    as_bytes,
    base_shards,
    dtype_written,
    read_safetensors_header,
    safetensors_header,
)

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
    "vocab.json",  # byte-level BPE tokenizers (GPT-2, Qwen) in their slow-tokenizer form
    "merges.txt",
    "added_tokens.json",
    "generation_config.json",
)

PEFT_PREFIX = "base_model.model."


@dataclass(frozen=True)
class MergedModel:
    path: Path
    sha256: str
    base: PreparedModel
    adapter_sha256: str


def adapter_hash(adapter_dir: Path) -> str:
    """Content hash of an adapter directory (weights + config, not edgekit's record)."""
    return sha256_tree(adapter_dir, names=None)


def check_adapter(base: PreparedModel, adapter_dir: Path) -> None:
    """Refuse an adapter that is not PEFT or that was trained on a different base."""
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelError(f"{adapter_dir}: not a PEFT adapter (no adapter_config.json)")
    record = read_record(adapter_dir / ADAPTER_RECORD)
    if record is None:
        return  # adapters trained elsewhere carry no record; shapes are still checked
    want = record.get(A_BASE_SHA256)
    if want and want != base.sha256:
        raise ModelError(
            f"{adapter_dir} was trained on base {record.get(A_BASE_SPEC)!r} "
            f"(sha256 {want[:12]}…) but the base given is {base.spec!r} "
            f"(sha256 {base.sha256[:12]}…). Merging onto a different base gives a broken "
            "model: merge with the base the adapter was trained on, or retrain the adapter."
        )


# ---- the adapter ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoraSettings:
    """What the merge needs from adapter_config.json."""

    r: int
    alpha: float
    use_rslora: bool
    fan_in_fan_out: bool
    rank_pattern: dict[str, int]
    alpha_pattern: dict[str, float]

    def scale(self, module: str, rank: int) -> float:
        """peft's scaling for one module: alpha / r, or alpha / sqrt(r) with rsLoRA."""
        r = _pattern_value(self.rank_pattern, module, self.r)
        if r != rank:
            raise ModelError(
                f"adapter module {module!r}: lora_A has rank {rank} but adapter_config.json "
                f"says r={r}; the adapter's files do not belong together"
            )
        alpha = _pattern_value(self.alpha_pattern, module, self.alpha)
        return alpha / math.sqrt(r) if self.use_rslora else alpha / r


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """peft's rank_pattern / alpha_pattern lookup: the first key matching the module name's
    end (as a regex), else the default."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


_HOW_TO = (
    "Merge this adapter with peft instead (PeftModel.from_pretrained(model, adapter)"
    ".merge_and_unload(), then save_pretrained) on a machine with RAM for the whole model, "
    "and give the merged folder as the base with no adapter."
)


def read_lora_settings(adapter_dir: Path) -> LoraSettings:
    """adapter_config.json, refusing what the streaming merge does not fold."""
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    refuse = []
    if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
        refuse.append(f"peft_type {cfg.get('peft_type')!r} (only LoRA merges)")
    if cfg.get("use_dora"):
        refuse.append("DoRA (use_dora: true)")
    if cfg.get("lora_bias"):
        refuse.append("a LoRA bias (lora_bias: true)")
    if cfg.get("layer_replication"):
        refuse.append("layer_replication")
    if cfg.get("trainable_token_indices"):
        refuse.append("trainable_token_indices")
    if cfg.get("target_parameters"):
        refuse.append("target_parameters (LoRA on bare parameters)")
    if refuse:
        raise ModelError(
            f"{adapter_dir}: edgekit merges plain LoRA adapters; this one uses "
            f"{', '.join(refuse)}. {_HOW_TO}"
        )
    return LoraSettings(
        r=int(cfg["r"]),
        alpha=cfg.get("lora_alpha", 8),
        use_rslora=bool(cfg.get("use_rslora")),
        fan_in_fan_out=bool(cfg.get("fan_in_fan_out")),
        rank_pattern=dict(cfg.get("rank_pattern") or {}),
        alpha_pattern=dict(cfg.get("alpha_pattern") or {}),
    )


@dataclass(frozen=True)
class LoraPair:
    a: TensorRef
    b: TensorRef
    scale: float
    fan_in_fan_out: bool


_LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


def _find_base_key(key: str, names: dict[str, TensorRef]) -> str | None:
    """The base tensor peft's key points at; a base saved without the task head's prefix
    (``layers.0…`` for ``model.layers.0…``) is matched as transformers would load it."""
    if key in names:
        return key
    rest = key.split(".", 1)[-1]
    return rest if "." in key and rest in names else None


def _adapter_tensors(
    adapter_dir: Path,
) -> tuple[dict[str, dict[str, TensorRef]], dict[str, TensorRef]]:
    """The adapter's LoRA pairs by module ({"A": …, "B": …}) and the tensors it replaces
    whole (modules_to_save, trained biases), by key without peft's prefix."""
    path = adapter_dir / "adapter_model.safetensors"
    if not path.is_file():
        raise ModelError(
            f"{adapter_dir}: no adapter_model.safetensors (an adapter_model.bin from an old "
            "peft? load it with peft and save_pretrained it again to get safetensors)"
        )
    pairs: dict[str, dict[str, TensorRef]] = {}
    whole: dict[str, TensorRef] = {}
    for ref in read_safetensors_header(path)[0]:
        key = ref.name.removeprefix(PEFT_PREFIX)
        m = _LORA_KEY.match(key)
        if m:
            pairs.setdefault(m["module"], {})[m["ab"]] = ref
        elif "lora_embedding_" in key:
            raise ModelError(
                f"{adapter_dir}: LoRA on an embedding ({key}) is not merged. {_HOW_TO}"
            )
        elif "lora_" in key or "token_adapter" in key:
            raise ModelError(f"{adapter_dir}: adapter tensor {key!r} is not plain LoRA. {_HOW_TO}")
        else:
            whole[key] = ref
    return pairs, whole


def _lora_pair(
    adapter_dir: Path, module: str, ab: dict[str, TensorRef], w: TensorRef, lora: LoraSettings
) -> LoraPair:
    """One module's A and B, checked against the base tensor ``w`` they fold into."""
    if set(ab) != {"A", "B"}:
        raise ModelError(f"{adapter_dir}: {module} has lora_{''.join(ab)} but not its pair")
    a, b = ab["A"], ab["B"]
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise ModelError(f"{adapter_dir}: {module} is not a linear layer (LoRA on conv). {_HOW_TO}")
    want = (b.shape[0], a.shape[1])
    if w.shape != (want[::-1] if lora.fan_in_fan_out else want) or a.shape[0] != b.shape[1]:
        raise ModelError(
            f"{adapter_dir}: LoRA on {module} (A {list(a.shape)}, B {list(b.shape)}) does not "
            f"fit the base's {w.name} {list(w.shape)}: the adapter belongs to another base"
        )
    if w.dtype not in FLOAT_CODES:
        raise ModelError(
            f"base tensor {w.name} is {w.dtype}: a quantized base cannot take a LoRA merge; "
            "merge onto the unquantized (f32/f16/bf16) model"
        )
    return LoraPair(a, b, lora.scale(module, a.shape[0]), lora.fan_in_fan_out)


def plan_merge(
    adapter_dir: Path, lora: LoraSettings, names: dict[str, TensorRef], config: dict[str, Any]
) -> dict[str, LoraPair | TensorRef]:
    """Base tensor name -> what to write instead: a LoRA pair to fold in, or a tensor the
    adapter replaces (modules_to_save, trained biases). Checks every shape before a byte is
    written."""
    pairs, whole = _adapter_tensors(adapter_dir)
    plan: dict[str, LoraPair | TensorRef] = {}
    unmatched = []
    for key, ref in whole.items():  # the adapter's copy replaces the base's
        target = _find_base_key(key, names)
        if target is None:
            unmatched.append(key)
        elif ref.shape != names[target].shape:
            raise ModelError(
                f"{adapter_dir}: {key} has shape {list(ref.shape)}, the base's "
                f"{list(names[target].shape)}: the adapter belongs to another base"
            )
        else:
            plan[target] = ref
    for module, ab in sorted(pairs.items()):
        target = _find_base_key(f"{module}.weight", names)
        if target is None:
            unmatched.append(f"{module}.weight")
        else:
            plan[target] = _lora_pair(adapter_dir, module, ab, names[target], lora)
    if unmatched:
        tied = config.get("tie_word_embeddings") and any("lm_head" in k for k in unmatched)
        raise ModelError(
            f"{adapter_dir}: the base has no tensor for {', '.join(sorted(unmatched)[:5])}"
            + (f" (and {len(unmatched) - 5} more)" if len(unmatched) > 5 else "")
            + (
                "; the base ties lm_head to the embeddings, so it has no lm_head of its own"
                if tied
                else "; the adapter was trained on another model"
            )
        )
    return plan


# ---- writing -------------------------------------------------------------------------------


def _merged_tensor(ref: TensorRef, pair: LoraPair, torch: Any) -> Any:
    """W + scale * (B @ A) in fp32, back in W's dtype: peft's operations in peft's order
    (``W += transpose(B @ A) * scale``), so an fp32 base matches merge_and_unload exactly."""
    a = pair.a.load(torch).to(torch.float32)
    b = pair.b.load(torch).to(torch.float32)
    delta = b @ a
    del a, b
    if pair.fan_in_fan_out:
        delta = delta.T
    delta.mul_(pair.scale)  # the values of peft's `delta * scale`, without a second copy
    w = ref.load(torch)
    dtype = w.dtype
    w = w.to(torch.float32)  # the tensor itself when already fp32 (it is ours to change)
    w += delta
    del delta
    return w.to(dtype)


def write_shards(
    out: Path, shards: list[list[TensorRef]], plan: dict[str, LoraPair | TensorRef], torch: Any
) -> dict[str, str]:
    """Write the merged weights, one output shard per base shard, tensor by tensor: the
    header is known up front (a merge keeps every shape and dtype), so nothing is buffered
    beyond the one tensor being merged (safetensors' save_file would need a whole shard).
    Returns the weight map (tensor -> file)."""
    weight_map = {}
    n = len(shards)
    for i, refs in enumerate(shards, 1):
        name = "model.safetensors" if n == 1 else f"model-{i:05d}-of-{n:05d}.safetensors"
        with open(out / name, "wb") as f:
            f.write(safetensors_header(refs, {"format": "pt"}))
            for ref in refs:
                weight_map[ref.name] = name
                todo = plan.get(ref.name)
                if todo is None:
                    chunks: Any = ref.chunks()
                elif isinstance(todo, LoraPair):
                    chunks = [as_bytes(_merged_tensor(ref, todo, torch))]
                    release_free_memory()  # else freed fp32 temporaries stay resident
                else:
                    dtype = getattr(torch, ST_DTYPES[ref.dtype])
                    chunks = [as_bytes(todo.load(torch).to(dtype).contiguous())]
                written = 0
                for block in chunks:
                    written += f.write(block)
                if written != ref.nbytes:  # cannot happen unless a source file is damaged
                    raise ModelError(f"{ref.file}: tensor {ref.name!r} gave {written} bytes")
    if n > 1:
        total = sum(r.nbytes for refs in shards for r in refs)
        atomic_write_json(
            out / "model.safetensors.index.json",
            {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
        )
    return weight_map


def merge_adapter(base_spec: str, adapter_dir: Path, out_dir: Path) -> MergedModel:
    """Merge ``adapter_dir`` into ``base_spec`` and save the result to ``out_dir``."""
    adapter_dir, out_dir = Path(adapter_dir).resolve(), Path(out_dir)
    base = prepare_model(base_spec)
    check_adapter(base, adapter_dir)
    torch = deps.require("torch")
    config = json.loads((base.path / "config.json").read_text())
    if config.get("quantization_config"):
        raise ModelError(
            f"{base.spec}: the base is quantized "
            f"({config['quantization_config'].get('quant_method', '?')}); a LoRA merges into "
            "unquantized weights: give the original f32/f16/bf16 model folder"
        )
    lora = read_lora_settings(adapter_dir)
    shards = base_shards(base.path, torch)
    names = {r.name: r for refs in shards for r in refs}
    plan = plan_merge(adapter_dir, lora, names, config)
    tmp = temp_dir_beside(out_dir)
    try:
        write_shards(tmp, shards, plan, torch)
        dtype = dtype_written(shards)
        if dtype:
            keys = [k for k in ("torch_dtype", "dtype") if k in config] or ["torch_dtype"]
            config.update({k: dtype for k in keys})
        atomic_write_json(tmp / "config.json", config)
        for name in TOKENIZER_FILES:
            if (base.path / name).is_file():
                shutil.copyfile(base.path / name, tmp / name)
        digest = checkpoint_hash(tmp)
        a_hash = adapter_hash(adapter_dir)
        atomic_write_json(
            tmp / MODEL_RECORD,
            {
                M_SPEC: f"{base.spec}+adapter:{a_hash[:16]}",
                M_SHA256: digest,
                "base_sha256": base.sha256,
                "adapter_sha256": a_hash,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return MergedModel(out_dir, digest, base, a_hash)
