"""llama.cpp's own `llama-server`, built once from the llama.cpp vendored in the
llama-cpp-python sdist edgekit pins, and cached in ~/.cache/edgekit: the peer of the
serving benches and the upstream of the `edgekit serve --engine` tests.

    .venv/bin/python bench/llama_server.py      # build (about 10 min on 2 cores) or find it
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERSION = "0.3.36"  # llama-cpp-python, as pinned in pyproject.toml
SDIST = f"llama_cpp_python-{VERSION}.tar.gz"
CACHE = Path.home() / ".cache" / "edgekit" / f"llama-server-{VERSION}"
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
CMAKE_FLAGS = [
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_CURL=OFF",
    "-DGGML_NATIVE=ON",
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary to cache
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_OPENSSL=OFF",  # loopback only
    "-DLLAMA_BUILD_UI=OFF",  # no npm ...
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # ... and no web UI download: offline build
    # As the Makefile builds llama-cpp-python: -march=native without the AMX kernels, which
    # crash in VMs whose CPU reports AMX (Firecracker guest, kernel 6.18).
    f"-DCMAKE_C_FLAGS={NO_AMX}",
    f"-DCMAKE_CXX_FLAGS={NO_AMX}",
]


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pip_cache_dir() -> Path:
    if os.environ.get("PIP_CACHE_DIR"):
        return Path(os.environ["PIP_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"


def is_sdist(path: Path, name: str) -> bool:
    """True when PATH is the sdist NAME (a .tar.gz whose top folder is NAME less .tar.gz),
    whatever the file is called: pip's http-v2 cache keeps downloads as <hash>.body."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\x1f\x8b":
                return False
        with tarfile.open(path, "r:gz") as tf:
            first = tf.next()
    except (OSError, tarfile.TarError, EOFError):
        return False
    return first is not None and first.name.split("/")[0] == name.removesuffix(".tar.gz")


def find_sdist(name: str, paths: Sequence[Path] = ()) -> Path | None:
    """The sdist NAME among PATHS (files, or folders searched for it), else in pip's cache:
    a file of that name, or a cached download (http-v2/**/*.body) holding it."""
    found: list[Path] = []
    for p in paths:
        found += sorted(p.rglob(name)) if p.is_dir() else [p]
    cache = pip_cache_dir()
    if cache.is_dir():
        found += sorted(cache.rglob(name))
        bodies = (cache / "http-v2").rglob("*.body") if (cache / "http-v2").is_dir() else []
        found += sorted(b for b in bodies if b.stat().st_size > 1 << 20)
    return next((p for p in found if p.is_file() and is_sdist(p, name)), None)


# `make install` keeps the sdist it built llama-cpp-python from here
VENV_SDIST = REPO / ".venv" / "sdist"


def build_llama_server(cache_dir: Path = CACHE, sdists: Sequence[Path] = ()) -> Path:
    """CACHE_DIR/llama-server, built once from the llama.cpp vendored in the sdist (found in
    SDISTS or pip's cache): only the llama-server target, CMAKE_FLAGS, -j all usable CPUs.
    Later calls return the cached binary if it was built with these flags."""
    binary, stamp = cache_dir / "llama-server", cache_dir / "build.json"
    if os.access(binary, os.X_OK) and stamp.is_file():
        if json.loads(stamp.read_text()).get("flags") == CMAKE_FLAGS:
            return binary
    sdist = find_sdist(SDIST, [*sdists, VENV_SDIST] if VENV_SDIST.is_dir() else sdists)
    if sdist is None:
        raise SystemExit(
            f"{SDIST} not found in {pip_cache_dir()} nor in --sdist. Get it with\n"
            f"  pip download --no-deps --no-binary :all: llama-cpp-python=={VERSION} -d DIR\n"
            "and pass --sdist DIR, or pass --llama-server PATH to use a built binary."
        )
    if shutil.which("cmake") is None:
        raise SystemExit("cmake not found: it is needed to build llama-server")
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir))
    log = cache_dir / "build.log"
    vendored = f"{SDIST.removesuffix('.tar.gz')}/vendor/llama.cpp"
    cmds = [
        ["cmake", "-S", str(work / vendored), "-B", str(work / "build"), *CMAKE_FLAGS],
        ["cmake", "--build", str(work / "build"), "--target", "llama-server", "-j", str(nproc())],
    ]
    print(f"building llama-server from {sdist} (about 10 min on 2 cores); log: {log}", flush=True)
    t0 = time.time()
    try:
        with tarfile.open(sdist, "r:gz") as tf:
            members = [m for m in tf.getmembers() if m.name.startswith(vendored + "/")]
            kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(work, members=members, **kw)
        with open(log, "w") as out:
            for cmd in cmds:
                out.write(f"$ {shlex.join(cmd)}\n")
                out.flush()
                if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode:
                    raise SystemExit(f"failed: {shlex.join(cmd)}\n{log.read_text()[-3000:]}")
        shutil.copy2(work / "build" / "bin" / "llama-server", cache_dir / "llama-server.tmp")
        (cache_dir / "llama-server.tmp").replace(binary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = {"sdist": str(sdist), "flags": CMAKE_FLAGS, "commands": cmds}
    stamp.write_text(json.dumps({**info, "seconds": round(time.time() - t0)}, indent=1))
    print(f"built {binary} in {time.time() - t0:.0f} s", flush=True)
    return binary


if __name__ == "__main__":
    print(build_llama_server(sdists=[Path(a) for a in sys.argv[1:]]))
