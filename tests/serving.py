"""Helpers to run the real `edgekit serve` on 127.0.0.1 in tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(
    bundle: Path, port: int, *args: str, python_flags: Sequence[str] = ()
) -> list[str]:
    """`python [FLAGS] -m edgekit serve BUNDLE --port PORT ARGS` with this interpreter."""
    return [
        sys.executable,
        *python_flags,
        "-m",
        "edgekit",
        "serve",
        str(bundle),
        "--port",
        str(port),
        *args,
    ]


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    """Until URL answers 200; RuntimeError with the log's end if PROC exits or time runs out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready:\n{log.read_text()[-3000:]}")


class RunningServer:
    """`edgekit serve` in a subprocess, ready once /ready answers 200.

    ``python_flags`` go to the interpreter, e.g. ``("-O",)`` to run with asserts stripped."""

    def __init__(
        self,
        bundle: Path,
        *args: str,
        timeout: float = 120,
        python_flags: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = bundle.parent / f"serve-{self.port}.log"
        self.proc = subprocess.Popen(
            serve_command(bundle, self.port, *args, python_flags=python_flags),
            stdout=open(self.log, "w"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(self.proc, f"{self.url}/ready", self.log, timeout)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def refused_start(bundle: Path, *args: str, timeout: float = 120) -> tuple[int, str]:
    """Start `edgekit serve` that must refuse to start: (exit status, its output).

    Fails the test if the server answers /ready (with any status) before it exits, or is
    still running after ``timeout`` seconds."""
    port = free_port()
    log = bundle.parent / f"serve-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            serve_command(bundle, port, *args), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.time() + timeout
        while proc.poll() is None:
            if time.time() > deadline:
                raise AssertionError(f"server neither started nor exited:\n{log.read_text()}")
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            raise AssertionError(
                f"/ready answered {answer.status_code}: the server started:\n{log.read_text()}"
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
    return proc.returncode, log.read_text()
