"""Local text generation for data building: self-replay answers and teacher augmentation.

Backends: an HF checkpoint through transformers (batched, greedy) or a GGUF through
llama.cpp. Results are cached line by line in a JSONL file keyed by model and prompt, so an
interrupted run resumes where it stopped and a re-run with the same inputs generates nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.fsutil import sha256_file, sha256_json
from edgekit.models import prepare_model
from edgekit.native import capture_native_output
from edgekit.runtime.threads import default_threads

Messages = list[dict[str, str]]


class HFGenerator:
    def __init__(self, model_dir: Path, model_id: str) -> None:
        torch = deps.require("torch")
        transformers = deps.require("transformers")
        self.torch = torch
        self.id = model_id
        self.tok = transformers.AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.float32
        ).eval()

    def generate(self, batch: list[Messages], max_new_tokens: int) -> list[str]:
        texts = [
            self.tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
            for m in batch
        ]
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with self.torch.no_grad():
            # repetition_penalty 1.1 matches llama.cpp's default at run time, so replay
            # answers look like what the deployed model says
            out = self.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=1.1,
                pad_token_id=self.tok.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        return [self.tok.decode(row, skip_special_tokens=True).strip() for row in new]


class LlamaCppGenerator:
    def __init__(self, gguf: Path, seed: int = 0) -> None:

        llama_cpp = deps.require("llama_cpp")
        self.id = sha256_file(gguf)
        with capture_native_output():
            self.llm = llama_cpp.Llama(
                model_path=str(gguf),
                n_ctx=2048,
                seed=seed,
                n_threads=default_threads(),
                n_threads_batch=default_threads(),
                verbose=False,
            )

    def generate(self, batch: list[Messages], max_new_tokens: int) -> list[str]:
        out = []
        for messages in batch:
            r = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_new_tokens, temperature=0.0
            )
            out.append((r["choices"][0]["message"]["content"] or "").strip())
        return out


def make_generator(spec: str) -> HFGenerator | LlamaCppGenerator:
    """A generator for a .gguf path, a builtin model or an HF folder."""
    if spec.endswith(".gguf"):
        return LlamaCppGenerator(Path(spec))

    model = prepare_model(spec)
    return HFGenerator(model.path, model.sha256)


def cached_generate(
    gen: Any,
    requests: list[Messages],
    max_new_tokens: int,
    cache: Path,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Answer every request, reusing and appending to the JSONL ``cache``."""
    keys = [sha256_json({"model": gen.id, "messages": m, "max": max_new_tokens}) for m in requests]
    done: dict[str, str] = {}
    if cache.is_file():
        for line in cache.read_text().splitlines():
            try:
                row = json.loads(line)
                done[row["key"]] = row["text"]
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut short by an interruption
    todo = [i for i, k in enumerate(keys) if k not in done]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "a") as f:
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            for i, text in zip(idx, gen.generate([requests[i] for i in idx], max_new_tokens)):
                done[keys[i]] = text
                f.write(json.dumps({"key": keys[i], "text": text}) + "\n")
            f.flush()
            if progress:
                progress(min(start + batch_size, len(todo)), len(todo))
    return [done[k] for k in keys]
