"""Checkpoint tensors read and written one at a time, never a whole model: the header of a
safetensors file (or a memory-mapped pytorch_model*.bin), each tensor's raw bytes in
chunks or as one torch tensor, and a safetensors header for tensors about to be written
back to back. The streaming LoRA merge (`edgekit.merge`) is built on it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import ModelError

#: Bytes copied per read when a tensor passes through unchanged.
COPY_CHUNK = 8 << 20
#: A safetensors header larger than this is a damaged file, not a model.
MAX_HEADER = 100 << 20
#: safetensors dtype codes <-> torch dtype names (torch is imported only when merging).
ST_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
}
FLOAT_CODES = ("F64", "F32", "F16", "BF16")


@dataclass(frozen=True)
class TensorRef:
    """One tensor in a checkpoint file, not yet read."""

    name: str
    dtype: str  # safetensors code, e.g. "BF16"
    shape: tuple[int, ...]
    nbytes: int
    file: Path
    offset: int = 0  # safetensors: absolute byte offset of the data in ``file``
    mapped: Any = None  # pytorch_model*.bin: the mmap-backed torch tensor

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The tensor's raw bytes, ``COPY_CHUNK`` at a time."""
        if self.mapped is not None:
            flat = memoryview(as_bytes(self.mapped.contiguous()))
            for i in range(0, len(flat), COPY_CHUNK):
                yield flat[i : i + COPY_CHUNK]
            return
        with open(self.file, "rb") as f:
            f.seek(self.offset)
            left = self.nbytes
            while left:
                block = f.read(min(COPY_CHUNK, left))
                if not block:
                    raise ModelError(f"{self.file}: truncated inside tensor {self.name!r}")
                left -= len(block)
                yield block

    def load(self, torch: Any) -> Any:
        """A fresh, writable torch tensor of this tensor's own dtype."""
        dtype = getattr(torch, ST_DTYPES[self.dtype])
        if self.mapped is not None:
            return self.mapped.clone()
        if self.nbytes == 0:
            return torch.empty(self.shape, dtype=dtype)
        buf = bytearray(self.nbytes)
        view = memoryview(buf)
        with open(self.file, "rb", buffering=0) as f:
            f.seek(self.offset)
            got = 0
            while got < self.nbytes:  # one read() returns at most ~2 GiB on Linux
                n = f.readinto(view[got:])
                if not n:
                    raise ModelError(f"{self.file}: truncated inside tensor {self.name!r}")
                got += n
        return torch.frombuffer(buf, dtype=dtype).reshape(self.shape)


def as_bytes(tensor: Any) -> Any:
    """A contiguous tensor's bytes as a numpy uint8 array (no copy; bf16 included)."""
    import torch  # only ever called with a tensor in hand: torch is already loaded

    return tensor.reshape(-1).view(torch.uint8).numpy()


def read_safetensors_header(path: Path) -> tuple[list[TensorRef], dict[str, str]]:
    """The tensors of one safetensors file in data order, and its metadata; reads only the
    header (the format: 8-byte little-endian length, JSON header, then the data)."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size <= MAX_HEADER:
            raise ModelError(f"{path}: not a safetensors file (header length {size})")
        try:
            header = json.loads(f.read(size))
        except ValueError as e:
            raise ModelError(f"{path}: damaged safetensors header ({e})") from None
    meta = header.pop("__metadata__", None) or {}
    start = 8 + size
    refs = []
    for name, h in header.items():
        begin, end = h["data_offsets"]
        refs.append(
            TensorRef(name, h["dtype"], tuple(h["shape"]), end - begin, path, start + begin)
        )
    return sorted(refs, key=lambda r: r.offset), meta


def _bin_refs(path: Path, torch: Any) -> list[TensorRef]:
    """Tensors of a pytorch_model*.bin, memory-mapped (torch.load(mmap=True)): not read yet."""
    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as e:  # legacy (non-zip) pickles cannot be memory-mapped
        raise ModelError(
            f"{path}: cannot be read lazily ({e}). Convert the base to safetensors "
            "(load it with transformers and save_pretrained(..., safe_serialization=True)) "
            "and merge onto that folder."
        ) from None
    codes = {getattr(torch, v): k for k, v in ST_DTYPES.items()}
    refs = []
    for name, t in state.items():
        if t.dtype not in codes:
            raise ModelError(f"{path}: tensor {name!r} has dtype {t.dtype}, not supported")
        nbytes = t.numel() * t.element_size()
        refs.append(TensorRef(name, codes[t.dtype], tuple(t.shape), nbytes, path, mapped=t))
    return refs


def base_shards(model_dir: Path, torch: Any) -> list[list[TensorRef]]:
    """The base's weights as its shards (each a list of tensors in file order), found the
    way transformers finds them: safetensors (index or single file), then .bin."""
    for index_name, single, kind in (
        ("model.safetensors.index.json", "model.safetensors", "st"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin", "bin"),
    ):
        index = model_dir / index_name
        if index.is_file():
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        elif (model_dir / single).is_file():
            files = [single]
        else:
            continue
        missing = [f for f in files if not (model_dir / f).is_file()]
        if missing:
            raise ModelError(f"{model_dir}: shard(s) listed in {index_name} missing: {missing}")
        if kind == "st":
            return [read_safetensors_header(model_dir / f)[0] for f in files]
        return [_bin_refs(model_dir / f, torch) for f in files]
    raise ModelError(f"{model_dir}: no model.safetensors(.index.json) or pytorch_model.bin")


def safetensors_header(refs: list[TensorRef], metadata: dict[str, str]) -> bytes:
    """A safetensors header for ``refs`` written back to back, padded to 8 bytes."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for r in refs:
        header[r.name] = {
            "dtype": r.dtype,
            "shape": list(r.shape),
            "data_offsets": [offset, offset + r.nbytes],
        }
        offset += r.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def dtype_written(shards: list[list[TensorRef]]) -> str | None:
    """The floating dtype holding most of the weights' bytes, as config.json names it."""
    sizes: dict[str, int] = {}
    for refs in shards:
        for r in refs:
            if r.dtype in FLOAT_CODES:
                sizes[r.dtype] = sizes.get(r.dtype, 0) + r.nbytes
    return ST_DTYPES[max(sizes, key=lambda k: sizes[k])] if sizes else None
