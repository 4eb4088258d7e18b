"""One GGUF loaded once: weights, vocabulary, chat template, LoRA adapters.

Every context the engine makes (one per adapter set) shares this model, so the weights
are read from disk, and offloaded to a GPU, a single time whatever the slot count.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Any

from edgekit import deps
from edgekit.bundle.answer_settings import Attention, attention
from edgekit.native import capture_native_output


@dataclass(frozen=True)
class ChatPrompt:
    tokens: list[int]
    stop: list[str]  # the template's own stop strings (e.g. its end-of-turn marker)


class EngineModel:
    """The one `llama_model` of a server, with what every request needs from it."""

    def __init__(
        self,
        path: str,
        gpu_layers: int = 0,
        numerics: Attention | None = None,
        vocab_only: bool = False,
    ) -> None:
        """``vocab_only``: vocabulary, chat template and metadata without the weights (for
        a server whose generation runs upstream: it still tokenizes every prompt)."""
        llama_cpp = deps.require("llama_cpp")
        from llama_cpp import _internals, llama_chat_format
        from llama_cpp._logger import set_verbose

        set_verbose(False)
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0x7FFFFFFF if gpu_layers < 0 else gpu_layers
        params.vocab_only = vocab_only
        with capture_native_output():
            self._model = _internals.LlamaModel(path_model=path, params=params, verbose=False)
        self.path = path
        self.gpu_layers = gpu_layers
        self.attention = numerics or attention(gpu_layers)
        self.ptr = self._model.model
        self.vocab = self._model.vocab
        self.n_vocab = self._model.n_vocab()
        self.n_ctx_train = self._model.n_ctx_train()
        self.metadata = self._model.metadata()
        self._formatter = _chat_formatter(self._model, self.metadata, llama_chat_format)
        self._adapters: dict[str, tuple[Any, int]] = {}  # path -> (adapter, users)
        self._lock = threading.Lock()
        # lanes (adapter sets) take turns: one decode at a time keeps llama.cpp's threads
        # within the cores (two teams of spinning threads on the same cores crawl)
        self.decode_lock = threading.Lock()

    def tokenize(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]:
        return self._model.tokenize(text.encode(), add_bos=add_bos, special=special)

    def count_tokens(self, text: str) -> int:
        """Model tokens in ``text`` as a prompt holds it (no BOS; special tokens parsed),
        counted as edgekit.runtime.answer.path.token_counter counts them for `chat`."""
        return len(self.tokenize(text, add_bos=False, special=True))

    def piece(self, token: int) -> bytes:
        """The bytes one token stands for (special tokens print as nothing)."""
        llama_cpp = deps.require("llama_cpp")
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    def is_eog(self, token: int) -> bool:
        return bool(deps.require("llama_cpp").llama_vocab_is_eog(self.vocab, token))

    def chat_prompt(self, messages: list[dict[str, Any]]) -> ChatPrompt:
        """The model's chat template applied the way llama-cpp-python's
        `create_chat_completion` applies it, so both paths see the same tokens."""
        result = self._formatter(messages=messages)
        tokens = self.tokenize(result.prompt, add_bos=not result.added_special)
        stop = result.stop if isinstance(result.stop, list) else [result.stop]
        return ChatPrompt(tokens, [s for s in stop if s])

    def adapter(self, path: str) -> Any:
        """A LoRA adapter over this model (loaded once, shared by every context using it).
        Give it back with :meth:`release_adapter`."""
        llama_cpp = deps.require("llama_cpp")
        with self._lock:
            if path in self._adapters:
                ptr, users = self._adapters[path]
                self._adapters[path] = (ptr, users + 1)
                return ptr
            with capture_native_output():
                ptr = llama_cpp.llama_adapter_lora_init(self.ptr, path.encode())
            if not ptr:
                raise ValueError(f"llama.cpp could not load the LoRA adapter {path}")
            self._adapters[path] = (ptr, 1)
            return ptr

    def release_adapter(self, path: str) -> None:
        llama_cpp = deps.require("llama_cpp")
        with self._lock:
            ptr, users = self._adapters[path]
            if users > 1:
                self._adapters[path] = (ptr, users - 1)
                return
            del self._adapters[path]
            llama_cpp.llama_adapter_lora_free(ptr)

    def context_params(self, n_ctx: int, n_seq: int, threads: int, n_batch: int) -> Any:
        llama_cpp = deps.require("llama_cpp")
        p = llama_cpp.llama_context_default_params()
        p.n_ctx = n_ctx
        p.n_batch = n_batch
        p.n_ubatch = min(512, n_batch)
        p.n_seq_max = n_seq
        p.n_threads = threads
        p.n_threads_batch = threads
        p.kv_unified = False  # one KV stream per sequence, each starting at cell 0
        p.no_perf = True
        # the same attention as every `Llama` that answers (chat, evals), so the same
        # question gets the same answer; see edgekit.bundle.answer_settings.Attention
        a = self.attention
        p.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if a.flash
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        p.type_k, p.type_v = a.type_k, a.type_v
        return p

    def new_context(self, params: Any) -> Any:
        from llama_cpp import _internals

        with capture_native_output():
            return _internals.LlamaContext(model=self._model, params=params, verbose=False)

    def close(self) -> None:
        self._model.close()


def _chat_formatter(model: Any, metadata: dict[str, str], fmt: Any) -> Any:
    """The formatter llama-cpp-python's `Llama` picks for this GGUF (same guess, same order)."""
    eos_id, bos_id = model.token_eos(), model.token_bos()
    eos = model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = model.token_get_text(bos_id) if bos_id != -1 else ""
    template = metadata.get("tokenizer.chat_template")
    if template is None:
        return fmt.format_llama2
    named = {
        "chatml": fmt.format_chatml,
        "mistral-instruct": fmt.format_mistral_instruct,
        "llama-3": fmt.format_llama3,
    }.get(fmt.guess_chat_format_from_gguf_metadata(metadata) or "")
    if named is not None:
        return named
    return fmt.Jinja2ChatFormatter(
        template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id]
    )
