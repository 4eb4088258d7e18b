"""Shared bits for the serving benches: start servers on loopback, stream, time tokens,
measure process trees, find a cached sdist."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

# a new connection per request for every server: llama-server closes a connection after
# a streamed answer, and a client reusing it gets 'Server disconnected'
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)

# Prompts: short questions, and the long prompt (about 700 SmolLM2 tokens): plain technical
# excerpts and a question, shaped like the prompt of a KB answer.
QUESTIONS = [
    "What does the ventilation officer check every shift?",
    "Explain how gas detectors are tested.",
    "Describe the duties of a shot firer.",
    "What should I do if I see loose rock in the roof?",
]
EXCERPTS = [
    "Main fans draw air through the mine from the intake shafts to the upcast shaft. The "
    "ventilation officer reads the fan pressure and the airflow at the fixed measuring "
    "stations at the start of every shift and writes both into the ventilation log. A fall "
    "of more than ten percent against the previous reading must be reported to the shift "
    "boss before anyone enters the affected district, because it usually means a door was "
    "left open, a stopping was damaged or a regulator was moved.",
    "Portable gas detectors measure methane, carbon monoxide, oxygen and hydrogen sulphide. "
    "Every detector is bump tested before it goes underground: it is exposed to a test gas "
    "of known concentration and must alarm within the time stated by the maker. Detectors "
    "that fail the bump test are tagged out and sent for calibration. Full calibration is "
    "done every thirty days, or after any detector has been dropped, wetted or exposed to "
    "a concentration above its range. Readings are taken at the roof for methane, which is "
    "lighter than air, and near the floor for heavier gases such as carbon dioxide.",
    "Only a certified shot firer may charge and fire explosives. Before charging, the shot "
    "firer checks the face for methane, makes sure the holes are clean and of the planned "
    "depth, and confirms that every person has left the danger zone and that the guards "
    "are posted at each entrance. After firing, nobody may return to the face until the "
    "smoke has cleared and the re-entry time has passed. The shot firer then inspects the "
    "face for misfires; a misfired hole is marked, reported and dealt with under the "
    "misfire procedure, never drilled out or recharged.",
    "Loose rock in the roof or sidewalls must be barred down from a safe position under "
    "supported ground, working from the supported area towards the unsupported one. If the "
    "rock cannot be barred down, the area is barricaded, marked with a warning sign and "
    "reported to the supervisor, who arranges extra support such as rock bolts, mesh or "
    "timber before work continues. Nobody may work or travel under unsupported roof. "
    "Cracks, drumminess when the roof is sounded with a bar, and small falls of rock are "
    "signs of a coming fall and must be reported at once.",
    "Every person underground carries a self-contained self-rescuer. It supplies oxygen for "
    "about thirty minutes at a walking pace, less under hard work. When the alarm sounds or "
    "smoke is seen, the self-rescuer is put on at once, before the air gets worse, and the "
    "wearer walks to the nearest refuge bay or to fresh air along the marked escape route. "
    "The refuge bay has compressed air, water, a telephone to the surface and first aid "
    "equipment, and its door is kept closed once everyone is inside.",
    "At the shift change the outgoing supervisor hands over in writing: the state of the "
    "ventilation, any gas readings above the action level, places barricaded for bad ground, "
    "misfires not yet cleared and equipment out of service. The incoming crew reads the "
    "report with the supervisor before going underground and signs it. A miner who finds a "
    "hazard that is not in the report stops work in that place and reports it by telephone.",
]
LONG_QUESTION = (
    "Using the excerpts above, explain what a miner must check and do before starting work "
    "in a district after the shift change."
)


def long_prompt() -> str:
    parts = [f"[{i}] {text}" for i, text in enumerate(EXCERPTS, 1)]
    return "Excerpts:\n\n" + "\n\n".join(parts) + f"\n\nQuestion: {LONG_QUESTION}"


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


def llama_cpp_server(
    gguf: Path, port: int, log: Path, threads: int, n_ctx: int, *args: str
) -> subprocess.Popen:
    """`python -m llama_cpp.server`: one Llama, requests served one at a time under its lock.
    interrupt_requests is off: on (its default) a waiting request ends the running stream."""
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
        "--interrupt_requests",
        "false",
        *args,
    ]
    return start(cmd, f"http://127.0.0.1:{port}/v1/models", log)


def llama_server_bin(
    binary: Path,
    gguf: Path,
    port: int,
    log: Path,
    slots: int,
    slot_ctx: int,
    threads: int,
    *args: str,
) -> subprocess.Popen:
    """llama.cpp's own `llama-server`: SLOTS slots of SLOT_CTX tokens each (-c is their sum),
    continuous batching (its default), the GGUF's chat template through --jinja."""
    cmd = [
        str(binary),
        "-m",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-np",
        str(slots),
        "-c",
        str(slots * slot_ctx),
        "-t",
        str(threads),
        "--jinja",
        *args,
    ]
    return start(cmd, f"http://127.0.0.1:{port}/health", log)


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat from the state on (the command name may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_pids(pid: int) -> list[int]:
    """PID and all its descendants."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                children.setdefault(int(_stat(int(d.name))[1]), []).append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process tree: the sum of VmRSS over it, in MB (10^6 bytes)."""
    kb = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
        except OSError:
            pass
    return kb * 1024 / 1e6


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process tree."""
    ticks = 0
    for p in tree_pids(pid):
        try:
            f = _stat(p)
            ticks += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server and whatever it started."""
    pids = tree_pids(proc.pid)[1:]
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


@dataclass
class Stream:
    """One streamed chat completion as the client saw it."""

    ttft: float = float("nan")  # seconds to the first content chunk
    tokens: int = 0  # completion tokens: the usage of the last chunk, else content chunks
    prompt_tokens: int | None = None  # from usage, when the server sends it
    by_usage: bool = False
    error: str | None = None


def stream_tokens(client: httpx.Client, url: str, body: dict) -> Stream:
    """POST a chat request with stream and stream_options.include_usage; time and count it."""
    out, chunks = Stream(), 0
    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    try:
        with client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                out.error = f"HTTP {r.status_code}: {r.read()[:200]!r}"
                return out
            for line in r.iter_lines():
                if not line.startswith("data:") or line.endswith("[DONE]"):
                    continue
                chunk = json.loads(line[5:])
                if chunk.get("error"):
                    out.error = str(chunk["error"])[:200]
                choices = chunk.get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    if not chunks:
                        out.ttft = time.perf_counter() - t0
                    chunks += 1
                if chunk.get("usage"):
                    out.tokens = int(chunk["usage"].get("completion_tokens") or 0)
                    out.prompt_tokens = chunk["usage"].get("prompt_tokens")
                    out.by_usage = True
    except (httpx.HTTPError, json.JSONDecodeError) as e:
        out.error = f"{type(e).__name__}: {e}"
    if not out.by_usage:
        out.tokens = chunks
    return out


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


@dataclass
class Server:
    """A running server and how the bench talks to it."""

    name: str
    url: str
    proc: subprocess.Popen
    body: dict  # extra fields of every request
    system: str  # system message the bench sends ("" when the server adds its own)

    def request(self, text: str, max_tokens: int) -> dict:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        msgs.append({"role": "user", "content": text})
        return {"messages": msgs, "max_tokens": max_tokens, "temperature": 0.0, **self.body}


def run_load(
    srv: Server, clients: int, per_client: int, tokens: int, text: Callable[[int, int], str]
) -> tuple[list[Stream], float]:
    """CLIENTS threads, each sending PER_CLIENT streamed requests one after the other, the
    user text of request n of client i being text(i, n); (results, wall seconds)."""

    def client(i: int) -> list[Stream]:
        with httpx.Client(timeout=600, limits=NO_KEEPALIVE) as c:
            return [
                stream_tokens(c, srv.url, srv.request(text(i, n), tokens))
                for n in range(per_client)
            ]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [s for part in pool.map(client, range(clients)) for s in part]
    return results, time.perf_counter() - t0


def p50_ttft_ms(streams: list[Stream]) -> float | None:
    t = [s.ttft for s in streams if s.error is None and s.ttft == s.ttft]
    return statistics.median(t) * 1000 if t else None
