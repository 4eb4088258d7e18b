"""edgekit's own console output, kept apart from everything else the process prints.

Libraries a build loads (torch, transformers, GPTQModel, gguf, llama.cpp) print banners,
warnings and progress bars straight to the process's stdout and stderr, some from C code
or child processes. `third_party_to_log` points file descriptors 1 and 2 at a log file for
the duration, so all of that lands there, and hands back a stream on the real terminal for
edgekit's own stage lines and progress bars. `stream()` is that stream (stderr otherwise).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from edgekit.native import fds_to

_terminal: TextIO | None = None


def stream() -> TextIO:
    """Where edgekit's own lines and bars go: the terminal while third-party output is
    being logged, else stderr."""
    return _terminal if _terminal is not None else sys.stderr


@contextlib.contextmanager
def third_party_to_log(log: Path) -> Iterator[TextIO]:
    """Send fds 1 and 2 (Python prints and warnings, logging, native libraries, child
    processes) to ``log`` (appended); yields the terminal stream for edgekit's output."""
    global _terminal
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    sink = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    previous = _terminal
    try:
        with fds_to(sink):
            _terminal = terminal
            yield terminal
    finally:
        os.close(sink)
        _terminal = previous
        terminal.close()
