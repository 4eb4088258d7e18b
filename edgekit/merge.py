"""`edgekit merge`: fold a PEFT LoRA adapter into its base model (safetensors out)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edgekit import deps
from edgekit.errors import ModelError
from edgekit.fsutil import atomic_write_json, replace_dir, sha256_tree, temp_dir_beside
from edgekit.models import PreparedModel, checkpoint_hash, prepare_model
from edgekit.records import (
    A_BASE_SHA256,
    A_BASE_SPEC,
    ADAPTER_RECORD,
    M_SHA256,
    M_SPEC,
    MODEL_RECORD,
    read_record,
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
        return  # adapters trained elsewhere carry no record; peft still checks shapes
    want = record.get(A_BASE_SHA256)
    if want and want != base.sha256:
        raise ModelError(
            f"{adapter_dir} was trained on base {record.get(A_BASE_SPEC)!r} "
            f"(sha256 {want[:12]}…) but the base given is {base.spec!r} "
            f"(sha256 {base.sha256[:12]}…). Merging onto a different base gives a broken "
            "model: merge with the base the adapter was trained on, or retrain the adapter."
        )


def merge_adapter(base_spec: str, adapter_dir: Path, out_dir: Path) -> MergedModel:
    """Merge ``adapter_dir`` into ``base_spec`` and save the result to ``out_dir``."""
    adapter_dir = Path(adapter_dir).resolve()
    base = prepare_model(base_spec)
    check_adapter(base, adapter_dir)
    torch = deps.require("torch")
    transformers = deps.require("transformers")
    peft = deps.require("peft")
    model = transformers.AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    merged = peft.PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    tmp = temp_dir_beside(out_dir)
    try:
        merged.save_pretrained(tmp, safe_serialization=True)
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
