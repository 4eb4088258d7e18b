"""Quantization quality of SmolLM2-135M (built-in source): every GGUF type against F16, and
a GPTQ checkpoint beside them.

For each llama.cpp type: size, bits/weight, perplexity and ΔPPL %, mean KL divergence and
same-top-token rate against the F16 GGUF (llama.cpp logits, the statistics of llama.cpp's
perplexity tool), and generation tokens/s. The GPTQ row (GPTQModel, 4-bit, calibrated on
the example project's docs) is scored through transformers on the same token ids. Held-out
text as in a build without training: a quarter of the example docs' sections and of
edgekit's general prompts (GPTQ calibrates on the other three quarters). Last, the type
`gguf: auto` ships under the default budget (KLD ≤ 0.05, ΔPPL ≤ 3 %).
`--json` prints one JSON object with every figure as the last line.

    EDGEKIT_THREADS=1 .venv/bin/python bench/quant_quality.py [CONFIG] [--json] [--no-gptq]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TYPES = ["Q2_K", "Q3_K_M", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"]


def run(config: Path, work: Path, tokens: int, gptq: bool) -> dict[str, object]:
    from edgekit.config import load_config
    from edgekit.config.quant import AUTO_CANDIDATES, BudgetSection, GPTQSection
    from edgekit.models import prepare_model
    from edgekit.pipeline.quant_texts import calibration_texts, eval_texts
    from edgekit.quant import gguf as q
    from edgekit.quant.auto import choose, make_row, measure
    from edgekit.runtime.threads import default_threads

    loaded = load_config(config)
    threads = default_threads()
    base = prepare_model("builtin:smollm2-135m")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    f16 = q.convert_to_f16(base.path, work / q.gguf_name(q.F16))
    timings["convert_f16_s"] = time.perf_counter() - t0

    def produce(qtype: str) -> Path:
        start = time.perf_counter()
        path = q.quantize(f16, work / q.gguf_name(qtype), qtype, threads=threads)
        timings[f"quantize_{qtype}_s"] = time.perf_counter() - start
        return path

    texts = eval_texts(loaded, work)  # no training data in `work`: the docs split
    n_params = q.count_params(f16)
    budget = BudgetSection()
    gptq_info: dict[str, object] = {}

    def gptq_rows(_ref: object) -> list[dict[str, object]]:
        from edgekit.quant.gptq import checkpoint_size, evaluate_gptq, quantize_gptq

        g = GPTQSection()
        calib = calibration_texts(loaded, work)
        r = quantize_gptq(
            base.path,
            work / "gptq",
            calib.domain,
            g.bits,
            g.group_size,
            g.samples,
            work=work,
            fill=calib.general,
        )
        gptq_info.update(
            label=r.label, samples=r.samples, quantize_s=r.seconds, notes=r.notes, cpu=True
        )
        metrics = evaluate_gptq(
            f16, r.path, texts.mixed(), total_tokens=tokens, threads=threads, work=work
        )
        row = make_row(r.label, checkpoint_size(r.path), n_params, metrics, budget.model_dump())
        return [{**row, "format": "gptq"}]

    report = measure(
        f16,
        TYPES,
        texts.mixed(),
        budget,
        produce=produce,
        n_params=n_params,
        total_tokens=tokens,
        threads=threads,
        speed=True,
        extra_rows=gptq_rows if gptq else None,
    )
    auto_rows = [r for r in report["rows"] if r["type"] in (q.F16, *AUTO_CANDIDATES)]
    auto, why = choose(auto_rows, budget.model_dump())
    report.update(
        auto_candidates=list(AUTO_CANDIDATES),
        auto_choice=auto,
        auto_reason=why,
        texts=texts.describe(),
        gptq=gptq_info or None,
        threads=threads,
        timings=timings,
    )
    return report


def main() -> None:
    from edgekit.quant.auto import format_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "config", nargs="?", type=Path, default=REPO / "examples" / "mine-safety" / "edgekit.yaml"
    )
    ap.add_argument("--tokens", type=int, default=4096, help="held-out tokens scored per model")
    ap.add_argument("--no-gptq", action="store_true", help="leave the GPTQ row out")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run(args.config.resolve(), Path(tmp), args.tokens, not args.no_gptq)
    print(format_table(report))
    print(f"auto (default budget, candidates {report['auto_candidates']}): ", end="")
    print(f"{report['auto_choice']} — {report['auto_reason']}")
    if report["gptq"]:
        g = report["gptq"]
        print(f"GPTQ quantize on CPU: {g['quantize_s']:.0f}s, {g['samples']} samples; {g['notes']}")
    print(f"llama.cpp threads: {report['threads']}; texts: {report['texts']}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
