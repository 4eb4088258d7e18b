"""How `edgekit serve` runs: every setting, its default and its help, once. The CLI's options
are made from these fields (`edgekit.cli.options.options_from`), so a setting is spelled
here and nowhere else. This module imports nothing heavy, so `--help` stays instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.runtime.answer.request import DEFAULT_MAX_OUTPUT_TOKENS, PROMPT_MARGIN

DEFAULT_HOST = "127.0.0.1"  # loopback: serving on 0.0.0.0 is an explicit choice
DEFAULT_PORT = 8080
DEFAULT_INSTALL_ROOT = Path("/opt/edgekit")
DEFAULT_MAX_QUEUE = 8  # requests that may wait for a free slot before 503


def option(default: Any, help: str, *flags: str, **click_kw: Any) -> Any:
    """A setting with the help text (and any other spelling or click keyword) of its
    command-line option; the CLI reads them from the field's metadata."""
    return field(default=default, metadata={"help": help, "flags": flags, "click": click_kw})


def internal(default: Any) -> Any:
    """A setting with no command-line option (set from the environment or by code)."""
    return field(default=default, metadata={"cli": False})


@dataclass
class ServeSettings:
    bundle: Path = field(metadata={"cli": False})  # the command's argument
    no_auth: bool = option(False, "Serve without API keys (prints a warning).")
    slots: int | None = option(
        None,
        "Requests generated at once, batched into each llama.cpp step over one copy of the "
        "weights (default: 4 per physical core, at least 4, at most 16).",
        "--slots",
        "--instances",
    )
    threads: int | None = option(
        None, "llama.cpp threads (default: the physical cores, as llama-server; EDGEKIT_THREADS)."
    )
    gpu_layers: int | None = option(
        None, "Layers on the GPU (default: all when llama.cpp has CUDA, else 0)."
    )
    max_queue: int = option(DEFAULT_MAX_QUEUE, "Requests that may wait for a free slot before 503.")
    queue_timeout: float = internal(30.0)
    request_timeout: float = option(120.0, "Seconds one answer may take.", "--timeout")
    max_body_bytes: int = internal(1 << 20)
    max_prompt_tokens: int | None = option(
        None, f"Default: the context window minus {PROMPT_MARGIN}."
    )
    max_output_tokens: int = option(
        DEFAULT_MAX_OUTPUT_TOKENS, "Most tokens one answer may generate."
    )
    audit_log: Path | None = option(
        None, "Default: <bundle>.audit.jsonl next to the bundle.", dir_okay=False
    )
    audit_key: Path | None = option(
        None,
        "Secret key of the audit log's keyed hashes. Default: <audit log>.key if it exists, "
        "else audit.key of the `edgekit install` root, else <audit log>.key, created (mode "
        "0600) on first start.",
        exists=True,
        dir_okay=False,
    )
    audit_text: bool = option(
        False,
        "Also record each question and answer text in the audit log. Default: metadata only "
        "(key id, model, chunk ids, document hashes, sha256 of prompt and answer).",
    )
    full_verify: bool = option(
        False, "Rehash every file at start, ignoring the cache of large files' hashes."
    )
    pubkey: Path | None = option(
        None,
        "Require a valid signature by this Ed25519 public key ($EDGEKIT_PUBKEY), for the "
        "bundle and for imported adapters.",
        exists=True,
        dir_okay=False,
        envvar="EDGEKIT_PUBKEY",
    )
    adapter_poll: float = option(
        1.0,
        "Seconds between checks for an adapter switch (edgekit adapter import/rollback); 0 "
        "turns hot swap off.",
    )
    config_settings: bool = option(
        False,
        "Answer with the config's retrieval/prompt settings, not the ones the build chose on "
        "the QA dev split (to compare the two).",
    )
    # llama.cpp's tiled attention kernels (edgekit.bundle.answer_settings.FAST_ATTENTION)
    fast_attention: bool = option(
        False,
        "llama.cpp's tiled attention kernels, as llama-server runs them: faster on long "
        "prompts, but on CPU an answer may then change with what else is in the batch, so the "
        "same question can get another answer (no exact replay of an audited answer). Off by "
        "default; always on with a GPU.",
    )
    engine: str | None = option(
        None,
        "Generate on OpenAI-compatible servers you already run (vLLM, llama-server, SGLang) "
        "instead of in this process: retrieval, citations, rules, keys, limits, metrics and "
        "the audit log stay here. Several URLs: least-busy with health checks; a request that "
        "has not streamed yet moves to another upstream when one fails. Upstreams must serve "
        "this bundle's model (`edgekit bundle recipe`). Bearer key: $EDGEKIT_ENGINE_KEY.",
        metavar="URL[,URL...]",
    )
    engine_key: str | None = internal(None)  # bearer key for the upstreams ($EDGEKIT_ENGINE_KEY)


DEFAULTS = ServeSettings(bundle=Path())
