"""Shared bits for the serving benches: start servers on loopback, stream, time tokens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def start(cmd: list[str], ready_url: str, log: Path, timeout: float = 180) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:4]} exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"not ready: {cmd[:4]}")


def edgekit_server(bundle: Path, port: int, log: Path, *args: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "edgekit",
        "serve",
        str(bundle),
        "--port",
        str(port),
        "--no-auth",
        *args,
    ]
    return start(cmd, f"http://127.0.0.1:{port}/ready", log)


def llama_server(gguf: Path, port: int, log: Path, threads: int, n_ctx: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--n_threads",
        str(threads),
        "--n_ctx",
        str(n_ctx),
    ]
    return start(cmd, f"http://127.0.0.1:{port}/v1/models", log)


def stream_chat(
    url: str, messages: list[dict], max_tokens: int, extra: dict | None = None
) -> tuple[float, list[float]]:
    """(seconds to first token, arrival time of every content token) for one streamed chat."""
    body = {
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
        **(extra or {}),
    }
    start_t = time.perf_counter()
    times: list[float] = []
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line.endswith("[DONE]"):
                continue
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                times.append(time.perf_counter())
    return (times[0] - start_t if times else float("nan")), times
