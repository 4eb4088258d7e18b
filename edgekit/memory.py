"""Peak resident memory (RSS) of this process and of its children, for the per-stage
numbers in the build log. Linux reads /proc; elsewhere the lifetime peak from getrusage."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1 << 20
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _maxrss_bytes(who: str) -> int:
    """getrusage's ru_maxrss in bytes (kB on Linux, bytes on macOS); 0 without `resource`."""
    try:
        import resource  # lazy: POSIX only
    except ImportError:  # Windows
        return 0
    usage = resource.getrusage(getattr(resource, who))
    return int(usage.ru_maxrss) * (1 if sys.platform == "darwin" else 1024)


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux: "5" to /proc/self/clear_refs).
    False where that is not possible: the peak read after is then the lifetime peak."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark (VmHWM) since start or the last reset."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _maxrss_bytes("RUSAGE_SELF")


def children_peak_rss_bytes() -> int:
    """Largest peak RSS of any finished (waited-for) child process, over this process's life."""
    return _maxrss_bytes("RUSAGE_CHILDREN")


@dataclass
class PeakRss:
    """Measures the peak RSS of a block: ``with PeakRss() as peak: ...; peak.mib``.

    The process's own high-water mark is reset on entry; a child's peak counts when the
    children's lifetime peak rose during the block (a child smaller than an earlier one
    is not seen: getrusage keeps only the maximum)."""

    bytes: int = 0
    _children_before: int = 0

    def __enter__(self) -> PeakRss:
        reset_peak_rss()
        self._children_before = children_peak_rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        peak = peak_rss_bytes()
        children = children_peak_rss_bytes()
        if children > self._children_before:
            peak = max(peak, children)
        self.bytes = peak

    @property
    def mib(self) -> float:
        return round(self.bytes / MIB, 1)


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (glibc's malloc_trim; a no-op elsewhere).
    A loop that allocates and frees large tensors of varying sizes otherwise keeps the
    freed memory resident (glibc raises its mmap threshold after each large free)."""
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = _find_malloc_trim()
    if _malloc_trim:
        _malloc_trim(0)


def _find_malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # lazy: only where glibc has malloc_trim

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and other libcs
        return False


_malloc_trim: Any = None


def format_rss(mib: float) -> str:
    """``850 MiB`` / ``1.2 GiB``."""
    return f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"
