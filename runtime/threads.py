"""Choosing llama.cpp thread counts for the machine we are on."""

from __future__ import annotations

import os
from pathlib import Path


def usable_cpus() -> int:
    """CPUs this process may run on (respects taskset / cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores (hyper-threads counted once); falls back to usable CPUs."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return usable_cpus()
    cores = set()
    phys = core = None
    for line in text.splitlines() + [""]:
        if line.startswith("physical id"):
            phys = line.split(":")[1].strip()
        elif line.startswith("core id"):
            core = line.split(":")[1].strip()
        elif not line.strip() and core is not None:
            cores.add((phys, core))
            phys = core = None
    return min(len(cores), usable_cpus()) if cores else usable_cpus()


def default_threads() -> int:
    """Decode threads for one llama.cpp instance: the physical cores, as llama-server
    chooses (`EDGEKIT_THREADS` overrides).

    Measured on this project's 2-core VM (bench/serve_concurrency.py, README "Serving"):
    with 1 thread (the old "leave one core free" rule) edgekit served 0.66x (1 client) and
    0.45x (8 clients) of llama-server's tok/s at 2 threads; with 2 it serves 0.96x, 1.04x
    and 0.95x at 1, 8 and 16 clients. Hyper-threads add nothing to a memory-bound decode
    loop and slow its barriers, so they are not counted.
    """
    env = os.environ.get("EDGEKIT_THREADS")
    if env:
        return max(1, int(env))
    return max(1, physical_cores())
