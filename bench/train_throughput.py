"""Training throughput on this machine: tokens/s for LoRA and full fine-tuning, for both
built-in models, measured on the same fixed batches (real tokens, padding excluded).

Baseline named: fp32 on the same batches, so the ratio shows what `precision: auto`
(bf16 autocast where the CPU supports it) buys. `--json` prints one JSON object last.

    .venv/bin/python bench/train_throughput.py [--steps N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def measure(
    spec: str, method: str, bf16: bool, steps: int, seq: int = 256, batch: int = 4
) -> float:
    import peft
    from transformers import AutoModelForCausalLM

    from edgekit.models import prepare_model

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(prepare_model(spec).path, dtype=torch.float32)
    if method == "lora":
        from edgekit.config.train import LoraSection

        lora = LoraSection()  # the defaults `edgekit train` uses
        cfg = peft.LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            task_type="CAUSAL_LM",
            target_modules=list(lora.target_modules),
        )
        model = peft.get_peft_model(model, cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    x = torch.randint(100, 40000, (batch, seq))
    model.train()

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()

    step()  # warm-up (kernel selection)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch * seq / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from edgekit.train.device import use_bf16

    bf16 = use_bf16("auto", "cpu")
    fig: dict[str, object] = {"bf16_autocast": bf16, "threads": torch.get_num_threads()}
    print(
        f"threads {torch.get_num_threads()}, bf16 autocast {'on' if bf16 else 'off (CPU lacks it)'}"
    )
    print(f"{'model':<22}{'method':<7}{'fp32 tok/s':>12}{'auto tok/s':>12}{'ratio':>8}")
    for spec in ("builtin:tiny-random", "builtin:smollm2-135m"):
        for method in ("lora", "full"):
            base = measure(spec, method, False, args.steps)
            auto = measure(spec, method, bf16, args.steps) if bf16 else base
            fig[f"{spec}/{method}"] = {"fp32": base, "auto": auto, "ratio": auto / base}
            print(f"{spec:<22}{method:<7}{base:>12.0f}{auto:>12.0f}{auto / base:>8.2f}")
    if args.json:
        print(json.dumps(fig))


if __name__ == "__main__":
    main()
