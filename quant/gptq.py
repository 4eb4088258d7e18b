"""GPTQ checkpoints with GPTQModel (CPU here, CUDA when present), for GPU site servers.

The output is the standard GPTQ layout (`quantization_config.quant_method = "gptq"`,
`checkpoint_format = "gptq"`, v1) that transformers (through optimum + gptqmodel), vLLM and
TGI load. GPTQModel runs in a subprocess whose working directory is the build's work dir:
it writes `./logs/` into its cwd, and it pins its own numpy. Facts measured with 7.6.0:

- the group size must divide every layer's input width, or transformers' CPU kernel fails
  on load (SmolLM2's hidden size is 576: 128 leaves a ragged group, 64 divides);
- fp32 calibration on CPU beats the bf16 default (SmolLM2 PPL 13.8 vs 14.4);
- GPTQMODEL_CPU_WORKERS must be >= 2 (its model loader pool asks for 2 CPU workers; the
  default on a 2-core machine is 1 and it crashes);
- CPU generation needs TORCHDYNAMO_DISABLE=1, or the first generate compiles for minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.errors import EdgekitError
from edgekit.quant.texts import pieces

GROUP_FALLBACKS = (128, 64, 32)
MIN_SAMPLE_CHARS = 200


@dataclass(frozen=True)
class GPTQResult:
    path: Path
    bits: int
    group_size: int
    samples: int
    seconds: float
    notes: list[str]

    @property
    def label(self) -> str:
        return gptq_label(self.bits, self.group_size)


def gptq_label(bits: int, group_size: int) -> str:
    return f"GPTQ-W{bits}G{group_size if group_size > 0 else 'ch'}"


def require_gptqmodel() -> None:
    """GPTQModel and optimum are installed (checked without importing: GPTQModel runs in a
    subprocess)."""
    deps.check("gptqmodel", "optimum")


def input_widths(model_dir: Path) -> set[int]:
    """Input widths of the model's linear layers, from its config.json."""
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg = cfg.get("text_config", cfg)
    hidden = int(cfg["hidden_size"])
    heads = int(cfg.get("num_attention_heads", 1))
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    return {hidden, int(cfg.get("intermediate_size", hidden)), heads * head_dim}


def choose_group_size(model_dir: Path, requested: int) -> tuple[int, str | None]:
    """The requested group size if it divides every input width, else the largest of
    128/64/32 below it that does (else -1: one scale per row). Returns it and a note."""
    if requested == -1:
        return -1, None
    widths = input_widths(model_dir)
    for g in (requested, *(g for g in GROUP_FALLBACKS if g < requested)):
        if all(w % g == 0 for w in widths):
            if g == requested:
                return g, None
            return g, (
                f"group_size {requested} does not divide the layer widths "
                f"{sorted(widths)}; using {g}"
            )
    return -1, f"no group size of {requested}/64/32 divides {sorted(widths)}; using -1"


def calibration_samples(
    texts: list[str], n: int, fill: list[str] | None = None
) -> tuple[list[str], str | None]:
    """``n`` calibration samples from ``texts``: an even spread when there are more, the
    texts cut into smaller pieces (not below 200 characters) when there are fewer, then
    topped up from ``fill`` (general text) if still short."""

    texts = [t for t in texts if t.strip()]
    if texts and len(texts) < n:
        size = max(MIN_SAMPLE_CHARS, sum(map(len, texts)) // n)
        texts = [p for t in texts for p in pieces(t, size)]
    domain = len(texts)
    if len(texts) < n and fill:
        texts += [t for t in fill if t.strip()][: n - len(texts)]
    if not texts:
        raise EdgekitError("no calibration text for GPTQ")
    if len(texts) > n:
        texts = [texts[i * len(texts) // n] for i in range(n)]
    notes = []
    if domain < len(texts):
        notes.append(f"{len(texts) - domain} of {len(texts)} samples are general text")
    if len(texts) < n:
        notes.append(f"only {len(texts)} calibration samples (asked {n})")
    return texts, "; ".join(notes) or None


def _env() -> dict[str, str]:
    env = {**os.environ, "TORCHDYNAMO_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    env["TRANSFORMERS_OFFLINE"] = "1"
    env.setdefault("GPTQMODEL_CPU_WORKERS", str(max(2, min(12, ((os.cpu_count() or 1) + 1) // 2))))
    return env


def _run_worker(mode: str, args: dict[str, Any], cwd: Path, log: Path | None) -> dict[str, Any]:
    require_gptqmodel()
    cwd = cwd.resolve()
    cwd.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cwd) as tmp:
        spec, result = Path(tmp) / "args.json", Path(tmp) / "result.json"
        spec.write_text(json.dumps({**args, "result": str(result)}))
        cmd = [sys.executable, "-m", "edgekit.quant.gptq", mode, str(spec)]
        proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0 or not result.is_file():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise EdgekitError(f"GPTQ {mode} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(result.read_text())


def quantize_gptq(
    model_dir: Path,
    out: Path,
    texts: list[str],
    bits: int = 4,
    group_size: int = 128,
    samples: int = 128,
    work: Path | None = None,
    threads: int | None = None,
    fill: list[str] | None = None,
) -> GPTQResult:
    """Quantize the HF checkpoint ``model_dir`` to a GPTQ checkpoint at ``out``, calibrated
    on ``texts`` (domain text; ``fill`` tops up when it is short)."""
    model_dir, out = model_dir.resolve(), out.resolve()
    group, note = choose_group_size(model_dir, group_size)
    chosen, sample_note = calibration_samples(texts, samples, fill)
    notes = [n for n in (note, sample_note) if n]
    work = work or out.parent
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.perf_counter()
    args = {
        "model": str(model_dir),
        "out": str(tmp),
        "bits": bits,
        "group_size": group,
        "texts": chosen,
        "threads": threads,
    }
    _run_worker("quantize", args, work, log=work / "gptq.log")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return GPTQResult(out, bits, group, len(chosen), time.perf_counter() - start, notes)


def evaluate_gptq(
    f16: Path,
    gptq_dir: Path,
    texts: list[str],
    max_tokens: int = 256,
    total_tokens: int = 4096,
    threads: int = 1,
    work: Path | None = None,
) -> dict[str, float]:
    """PPL, ΔPPL %, KLD and top-1 of a GPTQ checkpoint (transformers) against the F16 GGUF
    (llama.cpp) on the same token ids, plus generation tokens/s."""
    args = {
        "f16": str(f16.resolve()),
        "gptq": str(gptq_dir.resolve()),
        "texts": texts,
        "max_tokens": max_tokens,
        "total_tokens": total_tokens,
        "threads": threads,
    }
    work = work or gptq_dir.parent
    return _run_worker("eval", args, work, log=work / "gptq-eval.log")


def checkpoint_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.safetensors"))


# --- the subprocess side ---------------------------------------------------------------


def _device(torch: Any) -> tuple[str, Any]:
    if torch.cuda.is_available():
        return "cuda", torch.float16
    return "cpu", torch.float32


def _worker_quantize(a: dict[str, Any]) -> dict[str, Any]:
    torch = deps.require("torch")
    if a.get("threads"):
        torch.set_num_threads(int(a["threads"]))
    from gptqmodel import GPTQModel, QuantizeConfig

    device, dtype = _device(torch)
    config = QuantizeConfig(bits=a["bits"], group_size=a["group_size"])
    model = GPTQModel.load(a["model"], config, device=device, dtype=dtype)
    model.quantize(a["texts"])
    model.save(a["out"])
    _to_float16(Path(a["out"]))
    return {"device": device}


def _to_float16(out: Path) -> None:
    """Store the unquantized tensors (embeddings, norms) in float16, as GPTQ checkpoints
    do: fp32 calibration leaves them fp32, twice the size, and vLLM's GPTQ kernels want
    float16."""
    torch = deps.require("torch")
    from safetensors.torch import load_file, save_file

    for path in out.glob("*.safetensors"):
        tensors = load_file(path)
        cast = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
        save_file(cast, path, metadata={"format": "pt"})
    index = out / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text())
        data.setdefault("metadata", {})["total_size"] = checkpoint_size(out)
        index.write_text(json.dumps(data, indent=2))
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    for key in ("dtype", "torch_dtype"):
        if key in config:
            config[key] = "float16"
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def _worker_eval(a: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from edgekit.quant.evaluate import reference, score

    torch = deps.require("torch")
    transformers = deps.require("transformers")
    torch.set_num_threads(int(a["threads"]))
    ref = reference(Path(a["f16"]), a["texts"], a["max_tokens"], a["total_tokens"], a["threads"])
    device, dtype = _device(torch)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        a["gptq"], device_map=device, dtype=dtype
    )
    model.eval()

    def logprobs() -> Any:
        with torch.no_grad():
            for ids in ref.ids:
                logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, :-1]
                yield torch.log_softmax(logits.float(), -1).cpu().numpy().astype(np.float32)

    row: dict[str, Any] = score(ref, logprobs())
    prompt = torch.tensor([ref.ids[0][:16]], device=device)
    with torch.no_grad():
        model.generate(prompt, max_new_tokens=2, do_sample=False)
        start = time.perf_counter()
        out = model.generate(prompt, max_new_tokens=32, min_new_tokens=32, do_sample=False)
    row["tokens_per_s"] = (out.shape[1] - prompt.shape[1]) / (time.perf_counter() - start)
    return row


def _main(argv: list[str]) -> None:
    mode, spec = argv
    args = json.loads(Path(spec).read_text())
    result = {"quantize": _worker_quantize, "eval": _worker_eval}[mode](args)
    Path(args["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])
