"""Does batching (or prefix reuse) change a greedy answer? Long RAG-sized prompts.

tests/test_engine.py checks three such prompts; this asks 8 questions whose prompts carry 450-730
words of the mine-safety handbook (600-950 tokens: prefill takes several steps) three ways
on the serving engine, greedy: each alone on a fresh lane; all 8 admitted at once on
another fresh lane; then each again alone on that lane (its cached prompt reused). It
prints how many answers match the cold, alone ones. `--attention` picks edgekit's exact
default, `fast` (`serve --fast-attention`: llama.cpp's tiled kernels) or `off` (no flash
attention); `--kv-type K[,V]` overrides the KV cache types (f16, f32, bf16, q8_0).

    .venv/bin/python bench/engine_invariance.py [--attention fast] [--kv-type q8_0] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_common import machine_load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "examples" / "mine-safety" / "docs"
QUESTIONS = (
    "How long does a self-rescuer last?",
    "What is the methane limit?",
    "Who inspects the ventilation?",
    "When are refuge chambers checked?",
    "What does the control room do?",
    "How is blasting cleared?",
    "What is ground support?",
    "Describe the gas monitor alarm.",
)


def _ggml_type(llama_cpp: Any, name: str) -> int:
    from edgekit.bundle.answer_settings import GGML_BF16  # llama_cpp has no name for it

    return GGML_BF16 if name == "bf16" else int(getattr(llama_cpp, f"GGML_TYPE_{name.upper()}"))


def engine_model(name: str, kv_type: str | None) -> Any:
    import llama_cpp

    from edgekit.bundle import answer_settings as a
    from edgekit.models import smollm2_gguf
    from edgekit.runtime.engine import EngineModel

    numerics = {"exact": a.EXACT_ATTENTION, "fast": a.FAST_ATTENTION}.get(name)
    if numerics is None:
        numerics = a.Attention(flash=False, type_k=a.GGML_F16, type_v=a.GGML_F16)
    if kv_type:
        k, _, v = kv_type.partition(",")
        numerics = a.Attention(
            numerics.flash, _ggml_type(llama_cpp, k), _ggml_type(llama_cpp, v or k)
        )
    return EngineModel(str(smollm2_gguf()), numerics=numerics)


def answers(model: Any, prompts: list[Any], lane: Any, at_once: bool) -> list[str]:
    from edgekit.runtime.engine import SamplingSpec

    def submit(p: Any) -> Any:
        return lane.submit(p.tokens, SamplingSpec(max_tokens=32, temperature=0.0))

    def text(handle: Any) -> str:
        return "".join(e[1] for e in handle.events(timeout=600) if e[0] == "text")

    if not at_once:
        return [text(submit(p)) for p in prompts]
    with lane._cv:  # admitted in one step, as in tests/test_engine.py
        handles = [submit(p) for p in prompts]
    return [text(h) for h in handles]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attention", choices=["exact", "fast", "off"], default="exact")
    ap.add_argument("--kv-type", default=None, help="K type, or K,V types (f16, f32, bf16, q8_0)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from edgekit.runtime.engine import Lane, LanePlan

    model = engine_model(args.attention, args.kv_type)
    words = " ".join(p.read_text() for p in sorted(DOCS.glob("*.md"))).split()
    prompts = [
        model.chat_prompt(
            [
                {
                    "role": "system",
                    "content": "Answer from the excerpts.\n"
                    + " ".join(words[100 * i : 100 * i + 450 + 40 * i]),
                },
                {"role": "user", "content": q},
            ]
        )
        for i, q in enumerate(QUESTIONS)
    ]
    plan = LanePlan(slots=len(prompts), threads=args.threads, n_ctx=2048)
    first = Lane(model, plan)
    t0 = time.perf_counter()
    alone = answers(model, prompts, first, at_once=False)
    t_alone = time.perf_counter() - t0
    first.retire()
    second = Lane(model, plan)
    t0 = time.perf_counter()
    together = answers(model, prompts, second, at_once=True)
    t_together = time.perf_counter() - t0
    cached = answers(model, prompts, second, at_once=False)
    second.retire()
    result = {
        "attention": args.attention,
        "type_k": model.attention.type_k,
        "type_v": model.attention.type_v,
        "prompt_tokens": [len(p.tokens) for p in prompts],
        "together_equal_alone": sum(a == b for a, b in zip(alone, together)),
        "cached_equal_alone": sum(a == b for a, b in zip(alone, cached)),
        "questions": len(prompts),
        "seconds_alone": round(t_alone, 2),
        "seconds_together": round(t_together, 2),
        "load": machine_load(),
    }
    n = len(prompts)
    a = model.attention
    print(f"attention {args.attention}: flash {a.flash}, ggml types K {a.type_k}, V {a.type_v}")
    print(f"  all at once == alone:        {result['together_equal_alone']}/{n}")
    print(f"  again, prompt cached == alone: {result['cached_equal_alone']}/{n}")
    print(f"  seconds: alone {t_alone:.1f}, all at once {t_together:.1f}")
    print(f"  {result['load']}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
