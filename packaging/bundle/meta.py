"""Typed manifest entries: writers build them, readers get them back. Outside the format
package (`edgekit.bundle`) no code spells a key of `manifest.json`; a test checks it.

`Manifest(data)` is a read-only view of a parsed manifest; `BundleMeta` and `AdapterMeta`
are what a build and `edgekit adapter package` write; the entry types sit in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.errors import BundleError


@dataclass(frozen=True)
class ModelRef:
    """A model by its spec and content hash (the base model, a merged adapter)."""

    id: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {mf.K_ID: self.id, mf.K_SHA256: self.sha256}


@dataclass(frozen=True)
class ModelEntry:
    """One GGUF the bundle ships."""

    path: str
    qtype: str
    size: int = 0

    def to_json(self) -> dict[str, Any]:
        return {mf.K_PATH: self.path, mf.K_QTYPE: self.qtype, mf.K_SIZE: self.size}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelEntry:
        return cls(d[mf.K_PATH], d[mf.K_QTYPE], int(d.get(mf.K_SIZE) or 0))


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileEntry:
        return cls(d[mf.K_PATH], int(d[mf.K_SIZE]), str(d.get(mf.K_SHA256, "")))


@dataclass(frozen=True)
class ExpertEntry:
    """A domain expert: a LoRA trained on one group of documents (and its GGUF LoRA)."""

    name: str
    path: str
    patterns: list[str] = field(default_factory=list)
    gguf: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {mf.K_NAME: self.name, mf.K_PATH: self.path}
        entry[mf.K_PATTERNS] = list(self.patterns)
        if self.gguf is not None:
            entry[mf.K_GGUF] = self.gguf
        return entry

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExpertEntry:
        return cls(d[mf.K_NAME], d[mf.K_PATH], list(d.get(mf.K_PATTERNS) or []), d.get(mf.K_GGUF))


@dataclass(frozen=True)
class EvalSetEntry:
    """A held-out chat eval set the bundle carries (eval/<name>.jsonl)."""

    name: str
    path: str
    items: int
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            mf.K_NAME: self.name,
            mf.K_PATH: self.path,
            mf.K_ITEMS: self.items,
            mf.K_SOURCE: self.source,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EvalSetEntry:
        return cls(d[mf.K_NAME], d[mf.K_PATH], int(d.get(mf.K_ITEMS) or 0), d.get(mf.K_SOURCE, ""))


@dataclass(frozen=True)
class KBEntry:
    """The knowledge base folder and what it holds (the retrieval settings it is queried
    with are the runtime's answer settings)."""

    path: str
    embedder_fingerprint: str
    documents: int | None = None
    chunks: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            mf.K_PATH: self.path,
            mf.K_EMBEDDER_FINGERPRINT: self.embedder_fingerprint,
            mf.K_DOCUMENTS: self.documents,
            mf.K_CHUNKS: self.chunks,
        }


@dataclass(frozen=True)
class RuntimeEntry:
    """The site's answering defaults; `answer` is replaced by the settings the build
    chose on the QA dev split, `answer_config` keeps the config's own."""

    system_prompt: str
    max_tokens: int
    temperature: float
    n_ctx: int
    answer: dict[str, Any]
    answer_config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            mf.K_SYSTEM_PROMPT: self.system_prompt,
            mf.K_MAX_TOKENS: self.max_tokens,
            mf.K_TEMPERATURE: self.temperature,
            mf.K_N_CTX: self.n_ctx,
            mf.K_ANSWER: dict(self.answer),
            mf.K_ANSWER_CONFIG: dict(self.answer_config),
        }


@dataclass(frozen=True)
class TrainingEntry:
    method: str  # lora | full
    forgetting: dict[str, Any] | None
    data_card: dict[str, Any] | None
    gate: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            mf.K_METHOD: self.method,
            mf.K_FORGETTING: self.forgetting,
            mf.K_DATA_CARD: self.data_card,
            mf.K_GATE: self.gate,
        }


@dataclass(frozen=True)
class ProvenanceEntry:
    """What an auditor needs to tie the bundle to its inputs and the software that runs it."""

    config_sha256: str
    model_sha256: str
    data_config_sha256: str | None
    train_config_sha256: str | None
    eval: dict[str, Any] | None  # the forgetting table of a tuned model
    runtime_packages: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "config_sha256": self.config_sha256,
            mf.K_MODEL_SHA256: self.model_sha256,
            "data_config_sha256": self.data_config_sha256,
            "train_config_sha256": self.train_config_sha256,
            "eval": self.eval,
            "runtime_packages": self.runtime_packages,
        }


def gptq_entry(size: int, info: dict[str, Any] | None) -> dict[str, Any]:
    """The GPTQ checkpoint under model/gptq/ with what GPTQ reported (bits, group size...)."""
    return {mf.K_PATH: mf.GPTQ_DIR, mf.K_SIZE: size, **(info or {})}


@dataclass(frozen=True)
class BundleMeta:
    """What a build writes into the manifest (the writer adds files and the format)."""

    edgekit_version: str
    created: str
    name: str
    version: str
    base_model: ModelRef
    adapter: ModelRef | None
    models: list[ModelEntry]
    gptq: dict[str, Any] | None
    kb: KBEntry | None
    training: TrainingEntry | None
    provenance: ProvenanceEntry
    experts: list[ExpertEntry]
    eval_sets: list[EvalSetEntry]
    runtime: RuntimeEntry

    def to_json(self) -> dict[str, Any]:
        return {
            mf.K_EDGEKIT_VERSION: self.edgekit_version,
            mf.K_CREATED: self.created,
            mf.K_NAME: self.name,
            mf.K_VERSION: self.version,
            mf.K_BASE_MODEL: self.base_model.to_json(),
            mf.K_ADAPTER: self.adapter.to_json() if self.adapter else None,
            mf.K_MODELS: [m.to_json() for m in self.models],
            mf.K_DEFAULT_MODEL: self.models[0].path if self.models else None,
            mf.K_GPTQ: self.gptq,
            mf.K_KB: self.kb.to_json() if self.kb else None,
            mf.K_TRAINING: self.training.to_json() if self.training else None,
            mf.K_PROVENANCE: self.provenance.to_json(),
            mf.K_EXPERTS: [e.to_json() for e in self.experts],
            mf.K_EVAL_SETS: [e.to_json() for e in self.eval_sets],
            mf.K_RUNTIME: self.runtime.to_json(),
        }


@dataclass(frozen=True)
class AdapterMeta:
    """What `edgekit adapter package` writes: a signed mini-bundle for one site bundle."""

    bundle_id: str
    version: str
    base_model: ModelRef

    def to_json(self) -> dict[str, Any]:
        return {
            mf.K_KIND: mf.KIND_ADAPTER,
            mf.K_NAME: f"{self.bundle_id}-adapter",
            mf.K_VERSION: self.version,
            mf.K_BUNDLE_ID: self.bundle_id,
            mf.K_BASE_SHA256: self.base_model.sha256,
            mf.K_BASE_MODEL: self.base_model.to_json(),
        }


class Manifest:
    """A read-only, typed view of a parsed manifest."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        return cls(mf.read_manifest(folder))

    @property
    def name(self) -> str:
        return str(self.data[mf.K_NAME])

    @property
    def version(self) -> str:
        return str(self.data[mf.K_VERSION])

    @property
    def label(self) -> str:
        """`<name>-<version>`: the bundle's folder name and model id."""
        return f"{self.name}-{self.version}"

    @property
    def kind(self) -> str | None:
        return self.data.get(mf.K_KIND)

    @property
    def bundle_id(self) -> str | None:
        return self.data.get(mf.K_BUNDLE_ID)

    @property
    def base_sha256(self) -> str | None:
        return self.data.get(mf.K_BASE_SHA256)

    @property
    def model_sha256(self) -> str | None:
        """The shipped weights' hash before conversion (base, merged or tuned)."""
        return (self.data.get(mf.K_PROVENANCE) or {}).get(mf.K_MODEL_SHA256)

    @property
    def runtime(self) -> dict[str, Any]:
        return dict(self.data.get(mf.K_RUNTIME) or {})

    @property
    def system_prompt(self) -> str | None:
        return self.runtime.get(mf.K_SYSTEM_PROMPT)

    @property
    def files(self) -> list[FileEntry]:
        return [FileEntry.from_json(e) for e in self.data.get(mf.K_FILES) or []]

    @property
    def models(self) -> list[ModelEntry]:
        return [ModelEntry.from_json(e) for e in self.data.get(mf.K_MODELS) or []]

    def model_path(self, qtype: str | None = None) -> str:
        """Bundle-relative path of the GGUF to load: ``qtype``'s, else the default."""
        if qtype is None:
            rel = self.data.get(mf.K_DEFAULT_MODEL)
        else:
            rel = next((m.path for m in self.models if m.qtype == qtype.upper()), None)
            if rel is None:
                have = ", ".join(m.qtype for m in self.models)
                raise BundleError(f"no {qtype} model in this bundle (has: {have})")
        if not rel:
            raise BundleError("the manifest names no model")
        return str(rel)

    @property
    def kb_path(self) -> str | None:
        """Bundle-relative folder of the knowledge base; None without one."""
        kb = self.data.get(mf.K_KB)
        return str(kb[mf.K_PATH]) if kb else None

    @property
    def experts(self) -> list[ExpertEntry]:
        return [ExpertEntry.from_json(e) for e in self.data.get(mf.K_EXPERTS) or []]

    @property
    def eval_sets(self) -> list[EvalSetEntry]:
        return [EvalSetEntry.from_json(e) for e in self.data.get(mf.K_EVAL_SETS) or []]

    def with_chosen_answer(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """The runtime section with ``chosen`` as the answering settings (eval qa)."""
        runtime = self.runtime
        runtime[mf.K_ANSWER] = chosen
        return runtime


def qa_amendment(manifest: Manifest, summary: dict[str, Any], chosen: dict[str, Any]) -> dict:
    """Manifest changes after `eval qa`: its summary, and the settings it chose."""
    return {mf.K_QA: summary, mf.K_RUNTIME: manifest.with_chosen_answer(chosen)}


def behaviour_amendment(summary: dict[str, Any]) -> dict[str, Any]:
    """Manifest changes after the behaviour eval."""
    return {mf.K_BEHAVIOUR: summary}


@dataclass(frozen=True)
class VerifiedFolder:
    """A folder whose manifest has been verified (a bundle or an adapter package)."""

    root: Path
    manifest: dict[str, Any]

    @property
    def meta(self) -> Manifest:
        """The manifest, typed."""
        return Manifest(self.manifest)
