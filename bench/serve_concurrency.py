"""Concurrent clients: `edgekit serve` vs `llama-server` vs `python -m llama_cpp.server`.

All three serve the same GGUF on 127.0.0.1. Baselines: llama-server, llama.cpp's own server
with continuous batching, built from the llama.cpp vendored in the llama-cpp-python 0.3.36
sdist that edgekit pins (cached in ~/.cache/edgekit); llama-cpp-python's OpenAI server,
which serves one request at a time.

Fairness. Each server is started once, with slots = the largest client count, and kept up
for the whole bench, as each would be deployed (restarting per round would change slot
counts between rounds and put model loading next to the measurement). Rounds interleave:
per pass and client count, each server runs in turn, the order rotated every round; the
CPU the idle servers use meanwhile is printed. Every server gets the same prompt text:
edgekit adds its bundle's system prompt itself, the baselines get it as a system message;
temperature 0, the same max_tokens, the bundle's repeat_penalty, no knowledge base ("kb":
false for edgekit). Each user message starts with a tag unique to the request (the same
for every server), so no server reuses the cached prompt of an earlier identical request;
llama-server's RAM prompt cache is off (--cache-ram 0), which also keeps it out of its RSS.

Per round and server, CLIENTS clients each send --requests streamed chats of a short
question (--tokens tokens), then --long-requests chats of the "long prompt" (about 700
tokens: five technical excerpts and a question, shaped like a KB answer's prompt but sent
with kb false so all servers get the very same text; --long-tokens tokens). Measured:
tok/s = completion tokens of the short requests, summed over clients / round wall time;
p50 time to first content token (TTFT), short and long prompt. Tokens are the usage of the
last chunk (stream_options.include_usage); a server sending no usage (llama_cpp.server) is
counted by content chunks, shown as "chunks". RSS: VmRSS summed over each server's process
tree after warm-up (one short and one long request each) and at the end.

    .venv/bin/python bench/serve_concurrency.py BUNDLE [--clients 1,4,8,16] [--json]
    .venv/bin/python bench/serve_concurrency.py --gguf M.gguf --servers llama-server
    .venv/bin/python bench/serve_concurrency.py --build-only   # just build/find llama-server
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from llama_server import CACHE, CMAKE_FLAGS, SDIST, build_llama_server, pip_cache_dir
from serve_common import (
    NO_KEEPALIVE,
    QUESTIONS,
    Server,
    edgekit_server,
    free_port,
    llama_cpp_server,
    llama_server_bin,
    long_prompt,
    machine_load,
    p50_ttft_ms,
    run_load,
    stop,
    stream_tokens,
    tree_cpu_s,
    tree_rss_mb,
)

from edgekit.runtime.threads import default_threads, physical_cores

SERVERS = ("edgekit", "llama-server", "llama_cpp.server")


def measure(srv: Server, clients: int, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    """One round for one server: the short requests, then the long-prompt ones."""
    short, wall = run_load(
        srv,
        clients,
        args.requests,
        args.tokens,
        lambda i, n: f"(ticket {tag}-{i}-{n}) {QUESTIONS[(i + n) % len(QUESTIONS)]}",
    )
    long_, _ = run_load(
        srv,
        clients,
        args.long_requests,
        args.long_tokens,
        lambda i, n: f"(ticket {tag}-L{i}-{n})\n{long_prompt()}",
    )
    ok = [s for s in short if s.error is None]
    errors = [s.error for s in short + long_ if s.error]
    return {
        "tok_s": sum(s.tokens for s in ok) / wall,
        "ttft_ms": p50_ttft_ms(short),
        "long_ttft_ms": p50_ttft_ms(long_),
        "completion_tokens": sum(s.tokens for s in ok),
        "wall_s": wall,
        "long_prompt_tokens": median([s.prompt_tokens for s in long_]),
        "counted_by": "usage" if ok and all(s.by_usage for s in ok) else "chunks",
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


OPTIONS: list[tuple[str, Any, Any, str]] = [  # flag, type, default, help
    ("--gguf", Path, None, "GGUF to serve (default: the bundle's model)"),
    ("--servers", str, ",".join(SERVERS), "comma list, any subset of %(default)s"),
    ("--clients", str, "1,4,8,16", "concurrent clients of each round (default %(default)s)"),
    ("--requests", int, 2, "short requests per client and round (default %(default)s)"),
    ("--tokens", int, 64, "max_tokens of the short requests (default %(default)s)"),
    ("--long-requests", int, 1, "long-prompt requests per client, round (default %(default)s)"),
    ("--long-tokens", int, 16, "max_tokens of the long-prompt requests (default %(default)s)"),
    ("--passes", int, 1, "passes over --clients; figures are medians over passes"),
    ("--threads", int, None, "edgekit's --threads (default: none given, its own choice)"),
    ("--baseline-threads", int, None, "llama_cpp.server's threads (default: edgekit's)"),
    (
        "--peer-threads",
        str,
        None,
        "llama-server thread counts to run side by side; edgekit is compared with the one "
        "of the most tok/s over all rounds (default: 1, half and all of the physical cores)",
    ),
    ("--ctx", int, None, "tokens per slot (default: bundle n_ctx, else 2048); see below"),
    ("--llama-server", Path, None, "use this llama-server binary; build nothing"),
    ("--cache-dir", Path, CACHE, "where the llama-server build is cached (default %(default)s)"),
    ("--logs", Path, None, "keep the servers' logs in this folder (default: a temp folder)"),
]
LISTS = [  # flag, help: repeatable options
    (
        "--sdist",
        f"{SDIST}, or a folder holding it, to build llama-server from; pip's cache "
        f"({pip_cache_dir()}) is searched too",
    ),
    ("--edgekit-arg", "extra argument of edgekit serve (write --edgekit-arg=--flag)"),
    ("--llama-server-arg", "extra argument of llama-server, after the bench's (overrides)"),
]


def parse_args() -> argparse.Namespace:
    epilog = (
        "Commands: llama-server -m GGUF --host 127.0.0.1 --port P -np SLOTS -c SLOTS*CTX "
        "-t BASELINE_THREADS --jinja --cache-ram 0 [--llama-server-arg ...]; python -m "
        "llama_cpp.server --model GGUF --n_threads BASELINE_THREADS --n_ctx CTX "
        "--interrupt_requests false; edgekit serve BUNDLE --no-auth --slots SLOTS --max-queue "
        "max(8,SLOTS) [--threads T] [--edgekit-arg ...]. SLOTS = the largest --clients. "
        f"llama-server is built once with cmake {' '.join(CMAKE_FLAGS)} (target llama-server "
        f"only) and cached as {CACHE}/llama-server. Targets, edgekit/llama-server: 1 client "
        "tok/s >= 1.0x; 8 and 16 clients tok/s >= 1.0x, p50 TTFT <= 1.0x, long-prompt TTFT "
        "<= 1.1x; RSS <= llama-server's + 300 MB (after warm-up and at the end). llama-server "
        "runs once per --peer-threads count; the one of the most tok/s is the peer."
    )
    epilog = textwrap.fill(epilog, 88)
    ap = argparse.ArgumentParser(
        description=__doc__, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("bundle", type=Path, nargs="?", help="edgekit bundle (needed for edgekit)")
    for flag, typ, default, help_ in OPTIONS:
        ap.add_argument(flag, type=typ, default=default, help=help_)
    for flag, help_ in LISTS:
        ap.add_argument(flag, action="append", default=[], help=help_ + " (repeatable)")
    ap.add_argument("--build-only", action="store_true", help="build/find llama-server, exit")
    ap.add_argument("--json", action="store_true", help="also one JSON object, as the last line")
    args = ap.parse_args()
    args.sdist = [Path(p) for p in args.sdist]
    return args


def start_servers(
    args: argparse.Namespace, names: list[str], cfg: dict[str, Any], logs: Path
) -> list[Server]:
    servers: list[Server] = []
    slots, ctx, threads = cfg["slots"], cfg["ctx_per_slot"], cfg["baseline_threads"]
    body = {"repeat_penalty": cfg["repeat_penalty"]} if cfg["repeat_penalty"] else {}
    try:
        for name in names:
            port, log = free_port(), logs / f"{name}.log"
            if name == "edgekit":
                extra = ["--slots", str(slots), "--max-queue", str(max(8, slots))]
                if args.threads:  # else edgekit's defaults, as a user gets them
                    extra += ["--threads", str(args.threads)]
                proc = edgekit_server(args.bundle, port, log, *extra, *args.edgekit_arg)
            elif name.startswith("llama-server"):
                extra = ["--cache-ram", "0", *args.llama_server_arg]
                t = int(name.rsplit("-t", 1)[1])
                proc = llama_server_bin(
                    cfg["llama_server"], args.gguf, port, log, slots, ctx, t, *extra
                )
            else:
                proc = llama_cpp_server(args.gguf, port, log, threads, ctx)
            own = name == "edgekit"  # edgekit adds the system prompt and needs kb: false
            extras, system = ({"kb": False}, "") if own else (body, cfg["system"])
            servers.append(Server(name, f"http://127.0.0.1:{port}", proc, extras, system))
    except BaseException as e:  # not started, or Ctrl-C: stop what runs
        for s in servers:
            stop(s.proc)
        if isinstance(e, RuntimeError):
            raise SystemExit(f"{e}\nlogs: {logs}") from None
        raise
    return servers


def main() -> None:
    args = parse_args()
    if args.build_only:
        print(args.llama_server or build_llama_server(args.cache_dir, args.sdist))
        return
    names = [s.strip() for s in args.servers.split(",") if s.strip()]
    if unknown := set(names) - set(SERVERS):
        raise SystemExit(f"unknown servers {sorted(unknown)}; choose from {SERVERS}")
    counts = [int(c) for c in args.clients.split(",")]
    cfg: dict[str, Any] = {"system": "", "repeat_penalty": None, "n_ctx": 2048}
    if args.bundle:
        from edgekit.bundle.answer_settings import AnswerSettings
        from edgekit.runtime.site.verified import open_bundle

        site = open_bundle(args.bundle)
        answer = AnswerSettings.from_manifest(site.manifest)
        cfg.update(
            system=answer.system_prompt, repeat_penalty=answer.repeat_penalty, n_ctx=answer.n_ctx
        )
        args.gguf = args.gguf or site.model_path()
    elif "edgekit" in names:
        raise SystemExit("edgekit needs a BUNDLE (or leave it out of --servers)")
    if args.gguf is None:
        raise SystemExit("give a BUNDLE or --gguf")
    cores = physical_cores()
    peer_threads = sorted(
        {int(t) for t in args.peer_threads.split(",")}
        if args.peer_threads
        else {1, max(1, cores // 2), cores}
    )
    if "llama-server" in names:
        at = names.index("llama-server")
        names[at : at + 1] = [f"llama-server-t{t}" for t in peer_threads]
    cfg.update(
        gguf=str(args.gguf),
        peer_threads=peer_threads,
        bundle=str(args.bundle) if args.bundle else None,
        servers=names,
        clients=counts,
        slots=max(counts),
        ctx_per_slot=args.ctx or cfg["n_ctx"],
        baseline_threads=args.baseline_threads or args.threads or default_threads(),
        edgekit_threads=args.threads,
        **{k: getattr(args, k) for k in ("requests", "tokens", "long_requests", "long_tokens")},
        passes=args.passes,
    )
    if any(n.startswith("llama-server") for n in names):
        binary = args.llama_server or build_llama_server(args.cache_dir, args.sdist)
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
        cfg.update(llama_server=str(binary), llama_server_version=(out.stdout + out.stderr)[-200:])
    cfg["load_before"] = machine_load()
    logs = args.logs or Path(tempfile.mkdtemp(prefix="serve-concurrency-"))
    logs.mkdir(parents=True, exist_ok=True)
    servers = start_servers(args, names, cfg, logs)
    try:
        for srv in servers:  # warm-up: one short and one long-prompt request each
            with httpx.Client(timeout=600, limits=NO_KEEPALIVE) as c:
                for text in ("(warm-up) " + QUESTIONS[0], "(warm-up)\n" + long_prompt()):
                    if err := stream_tokens(c, srv.url, srv.request(text, 8)).error:
                        raise SystemExit(f"{srv.name} warm-up failed: {err}\nlogs: {logs}")
        rss = {s.name: {"after_warmup": tree_rss_mb(s.proc.pid)} for s in servers}
        runs: dict[str, dict[int, list]] = {s.name: {c: [] for c in counts} for s in servers}
        idle_cpu = 0.0  # most of one CPU the idle servers used while another was measured
        for p in range(args.passes):
            for r, clients in enumerate(counts):
                k = (p * len(counts) + r) % len(servers)  # rotate who goes first
                for srv in servers[k:] + servers[:k]:
                    others = [s.proc.pid for s in servers if s is not srv]
                    cpu0, t0 = sum(map(tree_cpu_s, others)), time.perf_counter()
                    runs[srv.name][clients].append(measure(srv, clients, f"{p}-{clients}", args))
                    cpu = sum(map(tree_cpu_s, others)) - cpu0
                    idle_cpu = max(idle_cpu, cpu / (time.perf_counter() - t0))
        for s in servers:
            rss[s.name]["end"] = tree_rss_mb(s.proc.pid)
    finally:
        for s in servers:
            stop(s.proc)
    cfg.update(load_after=machine_load(), rss_mb=rss, idle_cpu_share=idle_cpu)
    if "edgekit" in names:  # its own line on its engine: "serving ... (N slot(s), T thread(s) ...)"
        lines = (logs / "edgekit.log").read_text().splitlines()
        cfg["edgekit_plan"] = next((x for x in lines if x.startswith("serving ")), None)
    cfg["results"] = {
        name: {
            c: {**rs[-1], **{k: median([r[k] for r in rs]) for k in KEYS}} for c, rs in per.items()
        }
        for name, per in runs.items()
    }
    report(cfg, args.json)


KEYS = ("tok_s", "ttft_ms", "long_ttft_ms")


def median(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def check(cfg: dict[str, Any], name: str, value: float | None, op: str, target: float) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if op == ">=" else value <= target
    cfg["targets"].append({"name": name, "value": value, "target": f"{op} {target}", "ok": ok})
    return f"{value:.3f}x (target {op} {target}x: {'ok' if ok else 'MISS'})"


def report(cfg: dict[str, Any], as_json: bool) -> None:
    res, rss = cfg["results"], cfg["rss_mb"]
    cfg["long_prompt_tokens"] = median(
        [r["long_prompt_tokens"] for x in res.values() for r in x.values()]
    )
    cfg["targets"], cfg["ratios_edgekit_llama_server"] = [], {}
    print(f"machine before: {cfg['load_before']}")
    if cfg.get("edgekit_plan"):
        print(f"edgekit: {cfg['edgekit_plan']}")
    print(
        f"{Path(cfg['gguf']).name}; each server started once, {cfg['slots']} slots of "
        f"{cfg['ctx_per_slot']} tokens; baseline threads {cfg['baseline_threads']}, edgekit "
        f"threads {cfg['edgekit_threads'] or 'its default'}; {cfg['passes']} pass(es) of "
        "interleaved rounds (each server in turn, order rotated)"
    )
    print(
        f"short prompt: {cfg['requests']} request(s)/client of {cfg['tokens']} tokens. Long "
        f"prompt (excerpts + question, {fmt(cfg['long_prompt_tokens'], '.0f')} prompt tokens "
        f"by usage, kb false for edgekit): {cfg['long_requests']} request(s)/client of "
        f"{cfg['long_tokens']} tokens. tok/s = short completion tokens / round wall time"
    )
    peers = [n for n in cfg["servers"] if n.startswith("llama-server")]
    # the peer at its best measured setting: the thread count of the most tok/s overall
    peer = max(peers, key=lambda n: sum(r["tok_s"] or 0 for r in res[n].values()), default=None)
    cfg["peer"] = peer
    both = "edgekit" in res and peer is not None
    if both:
        print(f"peer: {peer} (the llama-server thread count of the most tok/s over all rounds)")
    for c in cfg["clients"]:
        print(f"\n{c} client(s)")
        print(
            f"{'server':<18}{'tok/s':>9}{'TTFT p50 ms':>13}{'long-prompt TTFT p50 ms':>25}"
            f"{'tokens by':>11}{'errors':>8}"
        )
        for name in cfg["servers"]:
            r = res[name][c]
            print(
                f"{name:<18}{fmt(r['tok_s']):>9}{fmt(r['ttft_ms'], '.0f'):>13}"
                f"{fmt(r['long_ttft_ms'], '.0f'):>25}{r['counted_by']:>11}{r['errors']:>8}"
            )
            if r["first_error"]:
                print(f"  first error: {r['first_error']}")
        if not both:
            continue
        e, ls = res["edgekit"][c], res[peer][c]
        q = {k: e[k] / ls[k] if e[k] is not None and ls[k] else None for k in KEYS}
        cfg["ratios_edgekit_llama_server"][c] = q
        line = f"edgekit/{peer}: tok/s "
        if c == 1:
            print(line + check(cfg, "tok_s@1", q["tok_s"], ">=", 1.0))
        elif c in (8, 16):
            print(line + check(cfg, f"tok_s@{c}", q["tok_s"], ">=", 1.0))
            print("  TTFT " + check(cfg, f"ttft@{c}", q["ttft_ms"], "<=", 1.0))
            print(
                "  long-prompt TTFT " + check(cfg, f"long_ttft@{c}", q["long_ttft_ms"], "<=", 1.1)
            )
        else:
            print(
                f"{line}{fmt(q['tok_s'], '.3f')}x, TTFT {fmt(q['ttft_ms'], '.3f')}x, long-prompt"
                f" TTFT {fmt(q['long_ttft_ms'], '.3f')}x (no target)"
            )
    print(f"\n{'RSS MB (process tree)':<24}{'after warm-up':>14}{'end':>8}")
    for name in cfg["servers"]:
        print(f"{name:<24}{rss[name]['after_warmup']:>14.0f}{rss[name]['end']:>8.0f}")
    if both:
        for when in ("after_warmup", "end"):
            over = rss["edgekit"][when] - rss[peer][when]
            ok = over <= 300
            cfg["targets"].append(
                {"name": f"rss_{when}", "value": over, "target": "<= +300 MB", "ok": ok}
            )
            print(
                f"edgekit - {peer} RSS, {when}: {over:+.0f} MB (target <= +300 MB: "
                f"{'ok' if ok else 'MISS'})"
            )
    print(f"idle servers used at most {cfg['idle_cpu_share']:.0%} of one CPU while another ran")
    print(f"machine after: {cfg['load_after']}")
    if as_json:
        print(json.dumps(cfg))


if __name__ == "__main__":
    main()
