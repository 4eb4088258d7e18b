"""What `edgekit eval quant` and `edgekit quantize --gptq` work on: the GGUFs and GPTQ
checkpoint in a bundle or folder, the held-out text to measure on, and GPTQ rows."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.meta import Manifest
from edgekit.quant.gptq import checkpoint_size, evaluate_gptq, gptq_label
from edgekit.quant.texts import Texts, read_texts
from edgekit.resources import general_texts


def gguf_type(path: Path) -> str:
    name = path.name.lower()
    if name.startswith("model-") and name.endswith(".gguf"):
        return name[len("model-") : -len(".gguf")].upper()
    return path.stem.upper()


def find_models(path: Path) -> tuple[dict[str, Path], Path | None, dict[str, Any] | None]:
    """GGUF files by type, a GPTQ checkpoint folder if any, and the bundle manifest if
    ``path`` is a bundle."""
    if (path / mf.MANIFEST_FILE).is_file():
        manifest = json.loads((path / mf.MANIFEST_FILE).read_text())
        ggufs = {m.qtype: path / m.path for m in Manifest(manifest).models}
        gptq = path / mf.GPTQ_DIR
        return ggufs, gptq if (gptq / "config.json").is_file() else None, manifest
    ggufs = {gguf_type(p): p for p in sorted(path.glob("*.gguf"))}
    gptq = next((p.parent for p in sorted(path.glob("*/config.json")) if is_gptq(p)), None)
    return ggufs, gptq, None


def is_gptq(config: Path) -> bool:
    q = json.loads(config.read_text()).get("quantization_config") or {}
    return q.get("quant_method") == "gptq"


def measure_texts(
    path: Path, manifest: dict[str, Any] | None, given: tuple[Path, ...]
) -> tuple[list[str], str | None]:
    """The held-out text to measure on: ``given`` files, else the bundle's eval sets, with
    edgekit's general prompts for what is missing. Returns (texts, a note for the user)."""
    if given:
        return [t for p in given for t in read_texts(p)], None

    def read(rel: str) -> list[str]:
        file = path / rel
        return read_texts(file) if manifest is not None and file.is_file() else []

    domain, general = read(mf.EVAL_DOMAIN_FILE), read(mf.EVAL_GENERAL_FILE)
    general = general or general_texts()
    note = None
    if not domain:
        note = (
            "no held-out domain text found; measuring on edgekit's general prompts "
            "(pass --text FILE|DOCS for domain text the model was not tuned on)"
        )
    return Texts(domain, general, "").mixed(), note


def gptq_rows(
    f16: Path,
    gptq_dir: Path,
    texts: list[str],
    tokens: int,
    threads: int,
    budget: dict[str, float],
    n_params: int,
) -> Any:
    """A quality-table row for a GPTQ checkpoint, scored when the table is measured."""

    def rows(_ref: Any) -> list[dict[str, Any]]:

        from edgekit.quant.auto import make_row

        q = json.loads((gptq_dir / "config.json").read_text())["quantization_config"]
        with tempfile.TemporaryDirectory() as work:
            metrics = evaluate_gptq(
                f16, gptq_dir, texts, total_tokens=tokens, threads=threads, work=Path(work)
            )
        label = gptq_label(int(q["bits"]), int(q["group_size"]))
        row = make_row(label, checkpoint_size(gptq_dir), n_params, metrics, budget)
        row["format"] = "gptq"
        return [row]

    return rows


def hf_params(model_dir: Path) -> int:
    """Parameters in an HF checkpoint's safetensors."""
    from safetensors import safe_open

    total = 0
    for path in model_dir.glob("*.safetensors"):
        with safe_open(str(path), "np") as f:
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                total += n
    return total
