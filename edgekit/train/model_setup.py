"""The model a training run starts from: the base loaded (full precision, or 4-bit NF4 for
QLoRA), activation (gradient) checkpointing on or off, LoRA adapters attached.

Only torch, transformers and peft are imported here (bitsandbytes too, for a 4-bit base),
all lazily, and nothing from edgekit above the foundation: `bench/train_scale.py` runs this
very setup on random-weight models of real sizes, from the source tree, on a GPU machine
where edgekit is not installed.
"""

from __future__ import annotations

import math
from typing import Any

from edgekit import deps
from edgekit.errors import MissingDependencyError

# `gradient_checkpointing: auto` turns checkpointing on from this many parameters up: at
# ~1B (Qwen2.5-1.5B) the activations of a 512-token sequence kept for the backward pass
# outgrow what LoRA's frozen weights leave free on a small machine, while below it
# recomputing them costs more time than the memory is worth.
GC_AUTO_MIN_PARAMS = 1_000_000_000

BNB_HINT = (
    "bitsandbytes (NVIDIA GPUs only) is needed for a 4-bit base (train.quantize_base: 4bit) "
    "but is not installed.\n  fix: pip install bitsandbytes   (on the CUDA build machine; or "
    "set train.quantize_base: none)"
)


def count_parameters(model: Any) -> int:
    """Parameters of ``model`` as in its checkpoint: a 4-bit weight (bitsandbytes'
    Params4bit packs two values a byte) counts by its unquantized shape; tied weights once."""
    total = 0
    for p in model.parameters():
        state = getattr(p, "quant_state", None)
        shape = getattr(state, "shape", None)
        total += math.prod(shape) if shape is not None else p.numel()
    return total


def use_gradient_checkpointing(setting: bool | str, n_params: int) -> bool:
    """``train.gradient_checkpointing`` resolved for a model of ``n_params`` parameters:
    `auto` is on from GC_AUTO_MIN_PARAMS up (LoRA and full fine-tuning alike)."""
    if setting == "auto":
        return n_params >= GC_AUTO_MIN_PARAMS
    if not isinstance(setting, bool):
        raise ValueError(f"gradient_checkpointing: expected true, false or auto, not {setting!r}")
    return setting


def require_bitsandbytes() -> Any:
    """bitsandbytes, imported only for a 4-bit base; never a dependency of the CPU install."""
    if not deps.has("bitsandbytes"):
        raise MissingDependencyError(BNB_HINT)
    return deps.require("bitsandbytes")


def quantization_config() -> Any:
    """QLoRA's base: NF4 weights, double quantization (the scales quantized too), bf16
    compute."""
    torch = deps.require("torch")
    transformers = deps.require("transformers")
    return transformers.BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_base(path: Any, quantize_base: str = "none", device: Any = None) -> Any:
    """The base model from a local folder: fp32 (the trainer's weights stay fp32; bf16 is
    autocast), or for ``quantize_base="4bit"`` NF4 on the CUDA ``device`` (the layers
    bitsandbytes does not quantize, such as the embeddings and norms, load in bf16 and
    `prepare_for_training` makes them fp32)."""
    torch = deps.require("torch")
    transformers = deps.require("transformers")
    auto = transformers.AutoModelForCausalLM
    if quantize_base == "none":
        return auto.from_pretrained(path, dtype=torch.float32)
    if quantize_base != "4bit":
        raise ValueError(f"quantize_base: expected none or 4bit, not {quantize_base!r}")
    require_bitsandbytes()
    device = torch.device(device if device is not None else "cuda")
    if device.type != "cuda":
        raise MissingDependencyError(
            f"a 4-bit base (train.quantize_base: 4bit) trains on a CUDA GPU only, not on "
            f"{device.type}: set train.quantize_base: none"
        )
    index = device.index if device.index is not None else torch.cuda.current_device()
    return auto.from_pretrained(
        path,
        quantization_config=quantization_config(),
        dtype=torch.bfloat16,
        device_map={"": index},
    )


def enable_checkpointing(model: Any, lora: bool) -> None:
    """Non-reentrant activation checkpointing on every decoder layer; with LoRA the
    embeddings' output requires grad, so gradients reach the adapters of the first layer
    through the recomputed blocks even though every base weight is frozen."""
    kwargs = {"use_reentrant": False}
    # transformers 5.2x renamed gradient_checkpointing_enable (kept as a deprecated alias)
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False  # a KV cache is useless in training and clashes with it
    if lora:
        model.enable_input_require_grads()


def prepare_for_training(
    model: Any,
    method: str,
    lora: Any = None,
    gradient_checkpointing: bool | str = "auto",
    quantized: bool = False,
) -> tuple[Any, bool]:
    """(the model to train, whether checkpointing is on). ``lora`` has the fields of
    edgekit.config.train.LoraSection (r, alpha, dropout, target_modules); ``quantized``: the
    base came from `load_base(..., "4bit")` (peft's k-bit preparation: base frozen, the
    layers left in bf16 made fp32)."""
    checkpointing = use_gradient_checkpointing(gradient_checkpointing, count_parameters(model))
    if quantized:
        if method != "lora":
            raise ValueError("a 4-bit base trains LoRA adapters only (method: lora)")
        peft = deps.require("peft")
        # checkpointing is turned on below, the same way as for a full-precision base
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if checkpointing:
        enable_checkpointing(model, lora=method == "lora")
    if method == "lora":
        if lora is None:
            raise ValueError("method lora needs the LoRA settings (r, alpha, dropout, targets)")
        peft = deps.require("peft")
        config = peft.LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        )
        model = peft.get_peft_model(model, config)
    return model, checkpointing
