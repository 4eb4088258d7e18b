"""Single-stream decode speed of `edgekit serve` vs raw llama-cpp-python on the same GGUF.

Baseline: llama_cpp.Llama in this process, same GGUF, same threads, same messages, greedy.
Runs are interleaved (raw, served, raw, served, ...) so machine noise hits both alike.
Decode speed = tokens after the first / time after the first token. Also reports time to
first token through the server with the knowledge base on and off.

    .venv/bin/python bench/serve_decode.py BUNDLE [--runs 5] [--tokens 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from serve_common import edgekit_server, free_port, machine_load, stream_chat

QUESTION = "Explain in detail how the ventilation system of an underground mine works."


def decode_rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import llama_cpp

    from edgekit.runtime.site.verified import open_bundle

    site = open_bundle(args.bundle)
    gguf = site.model_path()
    system = site.runtime.get("system_prompt") or ""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": QUESTION}]
    raw = llama_cpp.Llama(model_path=str(gguf), n_ctx=2048, n_threads=args.threads, verbose=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = edgekit_server(
            args.bundle,
            port,
            Path(tmp) / "serve.log",
            "--slots",
            "1",
            "--threads",
            str(args.threads),
        )
        try:
            raw_rates, srv_rates, ttft_kb, ttft_nokb = [], [], [], []
            for _ in range(args.runs):
                times = []
                for chunk in raw.create_chat_completion(
                    messages=messages, max_tokens=args.tokens, temperature=0.0, stream=True
                ):
                    if chunk["choices"][0]["delta"].get("content"):
                        times.append(time.perf_counter())
                raw_rates.append(decode_rate(times))
                ttft, times = stream_chat(
                    url, [{"role": "user", "content": QUESTION}], args.tokens, {"kb": False}
                )
                srv_rates.append(decode_rate(times))
                ttft_nokb.append(ttft)
                ttft, _ = stream_chat(url, [{"role": "user", "content": QUESTION}], 4, {"kb": True})
                ttft_kb.append(ttft)
        finally:
            proc.terminate()
            proc.wait()
    fig = {
        "gguf": gguf.name,
        "threads": args.threads,
        "runs": args.runs,
        "tokens": args.tokens,
        "raw_tok_s": statistics.median(raw_rates),
        "serve_tok_s": statistics.median(srv_rates),
        "ttft_ms_kb_off": statistics.median(ttft_nokb) * 1000,
        "ttft_ms_kb_on": statistics.median(ttft_kb) * 1000,
        "load": machine_load(),
    }
    fig["ratio"] = fig["serve_tok_s"] / fig["raw_tok_s"]
    print(
        f"{gguf.name}, {args.threads} thread(s), {args.runs} interleaved runs of "
        f"{args.tokens} tokens; {fig['load']}"
    )
    print(f"raw llama-cpp-python (baseline): {fig['raw_tok_s']:.1f} tok/s")
    print(f"edgekit serve (SSE, loopback):   {fig['serve_tok_s']:.1f} tok/s")
    print(f"ratio serve/raw: {fig['ratio']:.3f}   (goal >= 0.97)")
    print(
        f"time to first token via serve: {fig['ttft_ms_kb_off']:.0f} ms without KB, "
        f"{fig['ttft_ms_kb_on']:.0f} ms with KB"
    )
    if args.json:
        print(json.dumps(fig))


if __name__ == "__main__":
    main()
