"""4 concurrent clients: `edgekit serve` vs `python -m llama_cpp.server` on the same GGUF.

Baseline: llama-cpp-python's own OpenAI server (what users would run instead), given all
usable cores as threads. edgekit serve runs with its default pool for this machine. Each
client sends a bounded number of requests to 127.0.0.1 only; prints requests/s and p50/p95
latency for both and the throughput ratio.

    .venv/bin/python bench/serve_concurrency.py BUNDLE [--requests 6] [--tokens 48] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from serve_common import edgekit_server, free_port, llama_server, machine_load

QUESTIONS = [
    "What does the ventilation officer check every shift?",
    "Explain how gas detectors are tested.",
    "Describe the duties of a shot firer.",
    "What should I do if I see loose rock in the roof?",
]


def load(url: str, clients: int, per_client: int, tokens: int, extra: dict) -> dict:
    def client(i: int) -> list[float]:
        lat = []
        with httpx.Client(timeout=600) as c:
            for n in range(per_client):
                body = {
                    "messages": [{"role": "user", "content": QUESTIONS[(i + n) % 4]}],
                    "max_tokens": tokens,
                    "temperature": 0.0,
                    **extra,
                }
                t = time.perf_counter()
                r = c.post(f"{url}/v1/chat/completions", json=body)
                r.raise_for_status()
                lat.append(time.perf_counter() - t)
        return lat

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        lats = [x for part in pool.map(client, range(clients)) for x in part]
    wall = time.perf_counter() - start
    lats.sort()
    return {
        "requests": len(lats),
        "seconds": wall,
        "rps": len(lats) / wall,
        "p50_s": statistics.median(lats),
        "p95_s": lats[int(0.95 * (len(lats) - 1))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=6, help="per client")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from edgekit.runtime.bundle import open_bundle
    from edgekit.runtime.pool import plan_pool
    from edgekit.runtime.threads import usable_cpus

    site = open_bundle(args.bundle)
    plan = plan_pool()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = llama_server(site.model_path(), port, Path(tmp) / "llama.log", usable_cpus(), 2048)
        try:
            results["llama_cpp.server"] = load(
                f"http://127.0.0.1:{port}", args.clients, args.requests, args.tokens, {}
            )
        finally:
            proc.terminate()
            proc.wait()
        port = free_port()
        proc = edgekit_server(args.bundle, port, Path(tmp) / "serve.log")
        try:
            results["edgekit serve"] = load(
                f"http://127.0.0.1:{port}", args.clients, args.requests, args.tokens, {"kb": False}
            )
        finally:
            proc.terminate()
            proc.wait()
    ratio = results["edgekit serve"]["rps"] / results["llama_cpp.server"]["rps"]
    print(
        f"{args.clients} clients x {args.requests} requests, {args.tokens} tokens each; "
        f"edgekit pool {plan.instances} x {plan.threads} thread(s); "
        f"llama_cpp.server {usable_cpus()} threads; {machine_load()}"
    )
    print(f"{'server':<18}{'req/s':>8}{'p50 s':>8}{'p95 s':>8}")
    for name, r in results.items():
        print(f"{name:<18}{r['rps']:>8.2f}{r['p50_s']:>8.2f}{r['p95_s']:>8.2f}")
    print(f"throughput ratio edgekit/llama_cpp.server: {ratio:.2f}  (goal >= 1.5)")
    if args.json:
        print(
            json.dumps(
                {
                    "results": results,
                    "ratio": ratio,
                    "load": machine_load(),
                    "pool": [plan.instances, plan.threads],
                }
            )
        )


if __name__ == "__main__":
    main()
