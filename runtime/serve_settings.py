"""How `edgekit serve` runs: every setting and its default, once. The CLI's options take
their defaults from here (this module imports nothing heavy, so `--help` stays instant)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"  # loopback: serving on 0.0.0.0 is an explicit choice
DEFAULT_PORT = 8080
DEFAULT_INSTALL_ROOT = Path("/opt/edgekit")


@dataclass
class ServeSettings:
    bundle: Path
    no_auth: bool = False
    slots: int | None = None
    threads: int | None = None
    gpu_layers: int | None = None
    max_queue: int = 8
    queue_timeout: float = 30.0
    request_timeout: float = 120.0
    max_body_bytes: int = 1 << 20
    max_prompt_tokens: int | None = None
    max_output_tokens: int = 1024
    audit_log: Path | None = None
    audit_key: Path | None = None  # default: edgekit.runtime.audit.default_key_path
    audit_text: bool = False  # also record question and answer text, not only hashes
    full_verify: bool = False
    pubkey: Path | None = None
    adapter_poll: float = 1.0  # seconds between checks of the active-adapter pointer
    config_settings: bool = False  # the config's answer settings, not the build's choice
    # llama.cpp's tiled attention kernels (edgekit.bundle.answer_settings.FAST_ATTENTION):
    # faster long prompts, but on CPU an answer then depends on what else is in the batch
    # (no exact replay of an audited answer)
    fast_attention: bool = False
    # generation on OpenAI-compatible servers (comma-separated base URLs: vLLM, llama-server,
    # SGLang); retrieval, citations, rules, keys, limits, metrics and audit stay here
    engine: str | None = None
    engine_key: str | None = None  # bearer key for the upstreams ($EDGEKIT_ENGINE_KEY)


DEFAULTS = ServeSettings(bundle=Path())
