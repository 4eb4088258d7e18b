"""Where training runs: bf16 or not, CPU-only or not, and accelerate's process state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import deps


def use_bf16(precision: str, device: str) -> bool:
    """Whether to autocast to bf16: asked for, or `auto` on hardware that runs it fast."""
    if precision != "auto":
        return precision == "bf16"
    if device == "cuda":
        import torch

        return bool(torch.cuda.is_bf16_supported())
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_only() -> bool:
    """True when this host has no GPU (or other accelerator) for torch.

    accelerate is then told so (``cpu=True``): a multi-process launch
    (``accelerate launch --multi_gpu --num_processes N``) becomes N processes training one
    model over gloo on the CPU, instead of N unconnected runs that each train on all the
    data and write the same outputs."""
    torch = deps.require("torch")
    return not torch.accelerator.is_available()


def process_state() -> Any:
    """accelerate's view of this process (rank, world size), set up as the Trainer's will be:
    ``with process_state().main_process_first():`` lets rank 0 prepare shared files first."""
    accelerate = deps.require("accelerate")
    return accelerate.PartialState(cpu=cpu_only())
