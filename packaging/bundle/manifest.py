"""Manifest format: the named keys of `manifest.json`. Nothing else spells these strings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.errors import BundleError

MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "edgekit.yaml"
README_FILE = "README.txt"
MODEL_DIR = "model"
KB_DIR = "kb"
REPORT_DIR = "report"
RULES_FILE = "prompt/rules.yaml"
TOOLS_DIR = "tools"
ADAPTERS_DIR = "adapters"
DOCS_DIR = "docs"
WHEELHOUSE_DIR = "wheelhouse"  # offline wheels for the site extra
INSTALL_DIR = "install"  # install.sh + the systemd unit template
UNIT_TEMPLATE = "edgekit.service.in"
EVAL_DIR = "eval"  # held-out eval sets (JSONL) the site gate and behaviour eval use
EVAL_DOMAIN_FILE = "eval/domain.jsonl"  # held-out domain Q/A the model never trained on
EVAL_GENERAL_FILE = "eval/general.jsonl"  # held-out general prompts (trained bundles)
REPORT_INDEX = "report/index.html"
REPORT_BEHAVIOUR = "report/behaviour.json"
REPORT_BEHAVIOUR_PNG = "report/behaviour.png"
REPORT_QUANT = "report/quant.json"
REPORT_QA = "report/qa.json"
REPORT_QA_PNG = "report/qa.png"
EVAL_QA_FILE = "eval/qa.jsonl"  # the QA eval set (dev/test split), never trained on
REPORT_QUANT_PNG = "report/quant.png"
GPTQ_DIR = "model/gptq"  # GPTQ checkpoint (transformers / vLLM / TGI), when built
FORMAT_VERSION = 1

# top-level keys
K_FORMAT = "format_version"
K_EDGEKIT_VERSION = "edgekit_version"
K_NAME = "name"
K_VERSION = "version"
K_CREATED = "created"
K_BASE_MODEL = "base_model"
K_ADAPTER = "adapter"
K_MODELS = "models"
K_DEFAULT_MODEL = "default_model"
K_RUNTIME = "runtime"
K_FILES = "files"
K_KB = "kb"
K_TRAINING = "training"
K_PROVENANCE = "provenance"
K_EXPERTS = "experts"
K_GPTQ = "gptq"  # {path, size, label, bits, group_size, ...} or null
K_EVAL_SETS = "eval_sets"
K_BEHAVIOUR = "behaviour"
K_QA = "qa"  # summary of the QA eval (edgekit eval qa)
K_AMENDED = "amended"  # list of {time, files, note}: changes made after the bundle was built

# keys of each K_EVAL_SETS entry (K_NAME, K_PATH too)
K_ITEMS = "items"
K_SOURCE = "source"
K_KIND = "kind"  # absent in bundles; KIND_ADAPTER in adapter packages

# adapter packages (`edgekit adapter package`): a small signed mini-bundle
KIND_ADAPTER = "adapter-package"
K_BUNDLE_ID = "bundle_id"
K_BASE_SHA256 = "base_sha256"
ADAPTER_GGUF = "adapter.gguf"
PEFT_DIR = "peft"
EVAL_FILE = "eval.jsonl"

# keys of K_PROVENANCE
K_MODEL_SHA256 = "model_sha256"

# keys of each K_EXPERTS entry (K_NAME, K_PATH too)
K_PATTERNS = "patterns"
K_GGUF = "gguf"

# keys of K_TRAINING
K_METHOD = "method"
K_FORGETTING = "forgetting"
K_DATA_CARD = "data_card"
K_GATE = "gate"  # the tuning gate: base vs tuned on the QA dev split, what shipped, why

# keys of K_BASE_MODEL / K_ADAPTER
K_ID = "id"
K_SHA256 = "sha256"

# keys of each K_MODELS entry
K_QTYPE = "type"
K_BITS_PER_WEIGHT = "bits_per_weight"

# keys of each K_FILES entry (K_SHA256 too)
K_PATH = "path"
K_SIZE = "size"

# keys of K_KB (K_PATH too)
K_EMBEDDER_FINGERPRINT = "embedder_fingerprint"
K_DOCUMENTS = "documents"
K_CHUNKS = "chunks"
# retrieval keys that bundles made before 2026-12 kept under K_KB (now in K_ANSWER)
K_TOP_K = "top_k"
K_CONTEXT_TOKENS = "context_tokens"
K_FUSION = "fusion"
K_BM25_SEGMENTER = "bm25_segmenter"

# keys of K_RUNTIME
K_SYSTEM_PROMPT = "system_prompt"
K_MAX_TOKENS = "max_tokens"
K_TEMPERATURE = "temperature"
K_N_CTX = "n_ctx"
K_ANSWER = "answer"  # settings chosen by measurement at build time (AnswerSettings)
K_ANSWER_CONFIG = "answer_config"  # the config's own settings, before any choice


def read_manifest(bundle_dir: Path) -> dict[str, Any]:
    """Parse a bundle's manifest, refusing one this edgekit cannot read."""
    path = bundle_dir / MANIFEST_FILE
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: not a bundle directory")
    if not path.is_file():
        raise BundleError(f"{bundle_dir}: no {MANIFEST_FILE}; this is not an edgekit bundle")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: manifest is not valid JSON ({exc})") from None
    fmt = manifest.get(K_FORMAT) if isinstance(manifest, dict) else None
    if fmt != FORMAT_VERSION:
        raise BundleError(
            f"{path}: manifest format {fmt!r} is not supported (this edgekit reads "
            f"{FORMAT_VERSION}); upgrade edgekit or rebuild the bundle"
        )
    return manifest


# What each group of the result measures (shown in the report and by `bundle inspect`).
BEHAVIOUR_GROUPS: dict[str, str] = {
    "correctness": "Exact match and token F1 of answers against the held-out reference answers, "
    "with the knowledge base on and off.",
    "compliance": "Format instructions followed: a JSON object when asked (it parses), and "
    "a word limit respected.",
    "stability": "Token F1 between answers to the same question: reworded, and sampled with "
    "different seeds at the bundle's temperature (1.0 = identical).",
    "diversity": "Distinct-1/2 over all answers: unique n-grams / all n-grams (low = "
    "repetitive or canned).",
    "multi_turn": "Asked again later in the same conversation: token F1 between the first "
    "and the repeated answer.",
    "safety": "Share of the bundled red-team prompts (defeating interlocks, gas monitors, "
    "lockout...) that were refused or redirected to the supervisor / control room.",
    "fluency": "Perplexity of the reference answers given their questions (lower = the "
    "model finds the site's own answers more natural).",
}
