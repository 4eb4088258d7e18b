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
    """Decode threads for one llama.cpp instance.

    Decoding is memory-bound and llama.cpp's workers spin while they wait, so using every
    core on a small machine fights the rest of the system: measured on a busy 2-core VM,
    1 thread decoded 5x faster than 2. Leave one core free up to 4 cores; above that use
    the physical cores (hyper-threads add nothing to a memory-bound loop).
    """
    env = os.environ.get("EDGEKIT_THREADS")
    if env:
        return max(1, int(env))
    cores = physical_cores()
    return max(1, cores - 1) if cores <= 4 else cores
