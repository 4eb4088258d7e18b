"""Capture what native libraries (llama.cpp) print on the process's stdout/stderr fds."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def fds_to(fd: int) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``fd`` for the duration (Python's streams are
    flushed first and after, so nothing written before lands in the wrong place)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for saved_fd in saved:
            os.close(saved_fd)


@contextlib.contextmanager
def capture_native_output(log: Path | None = None) -> Iterator[list[str]]:
    """Redirect fds 1 and 2 into a file for the duration; yields a list filled with the text.

    C code writes straight to the file descriptors, so Python-level redirection misses it.
    """
    captured: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            with fds_to(sink.fileno()):
                yield captured
        finally:
            sink.seek(0)
            text = sink.read().decode(errors="replace")
            captured.append(text)
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                with open(log, "a") as f:
                    f.write(text)
