"""Fluency: perplexity of the reference answers given their questions, from llama.cpp
logits of the bundle's GGUF, with the prompt laid out by the GGUF's own chat template."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edgekit import deps
from edgekit.native import capture_native_output

N_CTX = 768  # prompt + answer; longer answers are scored on their first tokens


def _prompt(llm: Any, system: str | None, question: str) -> list[int]:
    """The tokens the runtime sends before the answer: the chat template's rendering,
    tokenized as llama-cpp-python's chat handler does."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": question}
    ]
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        text = "".join(f"{t['role']}: {t['content']}\n" for t in messages) + "assistant: "
        return llm.tokenize(text.encode())
    eos, bos = llm.token_eos(), llm.token_bos()
    fmt = Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
    )
    out = fmt(messages=messages)
    return llm.tokenize(out.prompt.encode(), add_bos=not out.added_special, special=True)


def answer_perplexity(
    model: Path, items: list[Any], system: str | None, threads: int | None = None
) -> dict[str, Any]:
    """exp(mean NLL) of every reference-answer token after its question's prompt."""
    import numpy as np

    from edgekit.runtime.threads import default_threads

    llama_cpp = deps.require("llama_cpp")
    with capture_native_output():
        llm = llama_cpp.Llama(
            model_path=str(model),
            n_ctx=N_CTX,
            logits_all=True,
            n_threads=threads or default_threads(),
            verbose=False,
        )
    nll, count = 0.0, 0
    for item in items:
        prompt = _prompt(llm, system, item.question)
        answer = llm.tokenize(item.reference.encode(), add_bos=False, special=False)
        answer = answer[: max(0, N_CTX - len(prompt))]
        if not answer or len(prompt) >= N_CTX:
            continue
        llm.reset()
        llm.eval(prompt + answer)
        logits = np.asarray(llm.scores[len(prompt) - 1 : len(prompt) + len(answer) - 1])
        logits = logits.astype(np.float64)
        top = logits.max(axis=-1, keepdims=True)
        logz = (top + np.log(np.exp(logits - top).sum(axis=-1, keepdims=True)))[:, 0]
        nll -= float((logits[np.arange(len(answer)), answer] - logz).sum())
        count += len(answer)
    del llm
    return {"perplexity": math.exp(nll / count) if count else None, "tokens": count}
