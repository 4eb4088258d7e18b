"""`edgekit doctor BUNDLE`: check this machine and prove the bundle runs with no egress.

The probe (a short chat and a KB query) runs in a child process with every outgoing
connection blocked twice over: inside a fresh network namespace when `unshare -n` is
available, and by an in-process guard that records any attempt to reach a non-loopback
address. The report says what was checked, what was attempted and the result.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.runtime.engine import gpu_available, plan_lane
from edgekit.runtime.threads import default_threads, physical_cores, usable_cpus

PROBE = r"""
import json, socket, sys, time
attempts = []
_connect = socket.socket.connect
def guard(self, address):
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family in (socket.AF_INET, socket.AF_INET6) and not (
            host.startswith("127.") or host in ("::1", "localhost")):
        attempts.append(f"{host}:{address[1] if isinstance(address, tuple) else ''}")
        raise OSError(f"egress blocked by edgekit doctor: {host}")
    return _connect(self, address)
socket.socket.connect = guard
_getaddrinfo = socket.getaddrinfo
def gai(host, *a, **k):
    if host not in (None, "localhost") and not str(host).startswith("127."):
        attempts.append(f"dns:{host}")
    return _getaddrinfo(host, *a, **k)
socket.getaddrinfo = gai
from pathlib import Path
from edgekit.runtime.site.verified import open_bundle
from edgekit.runtime.answer.session import ChatSession, load_model
result = {}
t = time.perf_counter()
site = open_bundle(Path(sys.argv[1]))
result["verify_s"] = time.perf_counter() - t
kb = None
from edgekit.runtime.answer.knowledge import has_kb, open_kb
if has_kb(site):
    kb = open_kb(site)
    hits = kb.query("safety")
    result["kb_hits"] = len(hits)
llm = load_model(site)
session = ChatSession(site, llm, max_tokens=8, kb=kb)
t = time.perf_counter()
answer = "".join(session.ask("Say hello."))
result["chat_s"] = time.perf_counter() - t
result["chat_tokens"] = len(answer) > 0
result["citations"] = len(session.last_citations)
result["torch_imported"] = "torch" in sys.modules
result["attempts"] = attempts
print(json.dumps(result))
"""


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            return [
                f
                for f in (
                    "avx",
                    "avx2",
                    "fma",
                    "f16c",
                    "avx512f",
                    "avx512_bf16",
                    "amx_bf16",
                    "avx_vnni",
                )
                if f in have
            ]
    return []


def _version(name: str) -> str:

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _netns_available() -> bool:
    exe = shutil.which("unshare")
    if not exe:
        return False
    return subprocess.run([exe, "-n", "true"], capture_output=True).returncode == 0


def run_doctor(bundle: Path) -> dict[str, Any]:

    bundle = Path(bundle).resolve()
    plan = plan_lane(0)
    report: dict[str, Any] = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bundle": str(bundle),
        "host": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": usable_cpus(),
            "physical_cores": physical_cores(),
            "cpu_flags": _cpu_flags(),
            "default_threads": default_threads(),
            "engine": {"slots": plan.slots, "threads": plan.threads},
            "gpu_offload": gpu_available(),
            "disk_free_gb": round(shutil.disk_usage(bundle).free / 2**30, 1),
        },
        "versions": {
            n: _version(n)
            for n in (
                "edgekit",
                "llama-cpp-python",
                "onnxruntime",
                "chromadb",
                "tokenizers",
                "torch",
            )
        },
    }
    report["versions"]["edgekit"] = __version__
    netns = _netns_available()
    cmd = [sys.executable, "-c", PROBE, str(bundle)]
    if netns:
        cmd = ["unshare", "-n", "--", *cmd]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_PROXY": "*"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    probe: dict[str, Any] = {
        "isolation": "network namespace + in-process guard"
        if netns
        else "in-process guard (unshare -n not available)"
    }
    if proc.returncode == 0:
        probe |= json.loads(proc.stdout.strip().splitlines()[-1])
    else:
        probe["error"] = proc.stderr.strip()[-1500:]
    report["probe"] = probe
    report["egress_attempts"] = probe.get("attempts", [])
    report["result"] = (
        "PASS"
        if proc.returncode == 0 and not report["egress_attempts"] and probe.get("chat_tokens")
        else "FAIL"
    )
    return report


def format_report(r: dict[str, Any]) -> str:
    h, p = r["host"], r["probe"]
    lines = [
        f"edgekit doctor  {r['time']}",
        f"bundle          {r['bundle']}",
        f"host            Python {h['python']}, {h['platform']}",
        f"cpu             {h['cpus']} CPUs ({h['physical_cores']} cores), flags: "
        f"{' '.join(h['cpu_flags']) or 'none detected'}",
        f"threads         {h['default_threads']} per chat; "
        f"serve {h['engine']['slots']} slots x {h['engine']['threads']} thread(s)",
        f"gpu offload     {'available' if h['gpu_offload'] else 'not available (CPU build)'}",
        f"disk free       {h['disk_free_gb']} GiB",
        "versions        " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()),
        f"isolation       {p['isolation']}",
    ]
    if "error" in p:
        lines.append(f"probe           FAILED: {p['error']}")
    else:
        lines += [
            f"verify          bundle verified in {p['verify_s']:.2f}s",
            f"kb query        {p.get('kb_hits', 'no KB')} hits",
            f"chat            answered in {p['chat_s']:.2f}s with {p['citations']} citation(s); "
            f"torch imported: {p['torch_imported']}",
        ]
    attempts = r["egress_attempts"]
    listed = ": " + ", ".join(attempts) if attempts else ""
    lines.append(f"egress          {len(attempts)} attempt(s){listed}")
    lines.append(f"result          {r['result']}")
    return "\n".join(lines)
