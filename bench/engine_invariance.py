"""Does batching (or prefix reuse) change a greedy answer? Long RAG-sized prompts.

The engine test checks short prompts; this asks 8 questions whose prompts carry 450-730
words of the mine-safety handbook (600-950 tokens: prefill takes several steps) three ways
on the serving engine, greedy: each alone on a fresh lane; all 8 admitted at once on
another fresh lane; then each again alone on that lane (its cached prompt reused). It
prints how many answers match the cold, alone ones. `--flash-attn` and `--kv-type` try
llama.cpp settings (`--kv-type` is set on the context here; edgekit has no option for it).

    .venv/bin/python bench/engine_invariance.py [--flash-attn] [--kv-type q8_0] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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


def engine_model(flash_attn: bool, kv_type: str | None) -> Any:
    import llama_cpp

    from edgekit.models import smollm2_gguf
    from edgekit.runtime.engine import EngineModel

    class Model(EngineModel):
        def context_params(self, *args: Any) -> Any:
            p = super().context_params(*args)
            if kv_type:
                p.type_k = p.type_v = getattr(llama_cpp, f"GGML_TYPE_{kv_type.upper()}")
            return p

    return Model(str(smollm2_gguf()), flash_attn=flash_attn)


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
    ap.add_argument("--flash-attn", action="store_true")
    ap.add_argument("--kv-type", choices=["f16", "q8_0"], default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from edgekit.runtime.engine import Lane, LanePlan

    model = engine_model(args.flash_attn, args.kv_type)
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
    alone = answers(model, prompts, first, at_once=False)
    first.retire()
    second = Lane(model, plan)
    together = answers(model, prompts, second, at_once=True)
    cached = answers(model, prompts, second, at_once=False)
    second.retire()
    result = {
        "flash_attn": args.flash_attn,
        "kv_type": args.kv_type or "f16",
        "prompt_tokens": [len(p.tokens) for p in prompts],
        "together_equal_alone": sum(a == b for a, b in zip(alone, together)),
        "cached_equal_alone": sum(a == b for a, b in zip(alone, cached)),
        "questions": len(prompts),
        "load": machine_load(),
    }
    n = len(prompts)
    print(f"flash attention {'on' if args.flash_attn else 'off'}, KV {result['kv_type']}")
    print(f"  all at once == alone:        {result['together_equal_alone']}/{n}")
    print(f"  again, prompt cached == alone: {result['cached_equal_alone']}/{n}")
    print(f"  {result['load']}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
