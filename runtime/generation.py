"""Turning an API request into llama.cpp calls: prompt assembly, streaming, accounting."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from edgekit.runtime.api_models import ChatRequest
from edgekit.runtime.audit import text_hash


@dataclass
class Prepared:
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    prompt_tokens: int
    citations: list[dict[str, Any]] = field(default_factory=list)
    chunk_ids: list[str] = field(default_factory=list)
    doc_hashes: list[str] = field(default_factory=list)
    rules_fired: list[str] = field(default_factory=list)
    fixed_reply: str | None = None


def prepare_chat(server: Any, req: ChatRequest) -> Prepared:
    """System prompt + rules + KB context; checks the prompt and output token limits."""
    from edgekit.runtime.server import ApiError

    msgs = []
    for m in req.messages:
        d: dict[str, Any] = {
            "role": "system" if m.role == "developer" else m.role,
            "content": m.text(),
        }
        if m.tool_calls:
            d["tool_calls"] = m.tool_calls
        if m.tool_call_id:
            d["tool_call_id"] = m.tool_call_id
        msgs.append(d)
    last_user = next((m["content"] for m in reversed(msgs) if m["role"] == "user"), "")
    from edgekit.runtime.prompting import apply_rules

    outcome = apply_rules(server.rules, last_user)
    system = "\n\n".join(
        [server.system_prompt]
        + [m["content"] for m in msgs if m["role"] == "system"]
        + outcome.instructions
    ).strip()
    others = [m for m in msgs if m["role"] != "system"]
    prepared = Prepared([], 0, 0.0, 0, rules_fired=outcome.fired, fixed_reply=outcome.reply)
    use_kb = server.kb is not None if req.kb is None else req.kb
    if use_kb and server.kb is None:
        raise ApiError(400, "this bundle has no knowledge base; send kb: false", "kb")
    if use_kb and last_user and not req.tools:
        from edgekit.kb.context import build_context, question_with_context

        start = time.perf_counter()
        hits = server.kb.query(last_user)
        ctx = build_context(hits, server.count_tokens, server.kb.context_tokens)
        server.metrics.retrieval.observe(time.perf_counter() - start)
        for m in reversed(others):
            if m["role"] == "user":
                m["content"] = question_with_context(last_user, ctx)
                break
        prepared.citations = [
            {
                "index": n,
                "source": h.source,
                "heading": h.heading,
                "page": h.page,
                "chunk_id": h.id,
                "doc_sha256": h.meta.get("doc_sha256"),
                "text": h.text,
                "label": h.citation(),
            }
            for n, h in enumerate(ctx.hits, start=1)
        ]
        prepared.chunk_ids = [h.id for h in ctx.hits]
        prepared.doc_hashes = sorted({str(h.meta.get("doc_sha256")) for h in ctx.hits})
    prepared.messages = ([{"role": "system", "content": system}] if system else []) + others
    prepared.prompt_tokens = sum(
        server.count_tokens(str(m.get("content") or "")) + 4 for m in prepared.messages
    )
    if prepared.prompt_tokens > server.max_prompt:
        raise ApiError(
            400,
            f"prompt is {prepared.prompt_tokens} tokens; the limit is "
            f"{server.max_prompt} (max_prompt_tokens)",
            "messages",
        )
    limit = server.settings.max_output_tokens
    prepared.max_tokens = req.max_completion_tokens or req.max_tokens or server.default_max_tokens
    if prepared.max_tokens > limit:
        raise ApiError(
            400,
            f"max_tokens {prepared.max_tokens} is over this server's limit of "
            f"{limit} (max_output_tokens)",
            "max_tokens",
        )
    if prepared.prompt_tokens + prepared.max_tokens > server.n_ctx:
        prepared.max_tokens = max(1, server.n_ctx - prepared.prompt_tokens)
    prepared.temperature = (
        server.default_temperature if req.temperature is None else req.temperature
    )
    return prepared


def chat_pieces(llm: Any, p: Prepared, req: ChatRequest, state: dict[str, Any]) -> Iterator[str]:
    """Text pieces from llama.cpp (one per token); sets state['finish_reason']."""
    if p.fixed_reply is not None:
        state["finish_reason"] = "stop"
        yield p.fixed_reply
        return
    kwargs: dict[str, Any] = {
        "max_tokens": p.max_tokens,
        "temperature": p.temperature,
        "stream": True,
        "stop": req.stop,
    }
    if req.top_p is not None:
        kwargs["top_p"] = req.top_p
    if req.seed is not None:
        kwargs["seed"] = req.seed
    for chunk in llm.create_chat_completion(messages=p.messages, **kwargs):
        choice = chunk["choices"][0]
        if choice.get("finish_reason"):
            state["finish_reason"] = choice["finish_reason"]
        piece = choice["delta"].get("content")
        if piece:
            yield piece


def tool_call(llm: Any, p: Prepared, req: ChatRequest) -> dict[str, Any]:
    """One non-streamed completion that may call tools (ChatML function-calling format:
    grammar-constrained, so arguments always parse against the tool's JSON schema)."""
    from llama_cpp.llama_chat_format import chatml_function_calling

    return chatml_function_calling(
        llama=llm,
        messages=p.messages,
        tools=req.tools,
        tool_choice=req.tool_choice,
        temperature=p.temperature,
        max_tokens=p.max_tokens,
        stream=False,
    )


def sse(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


class Accounting:
    """Timing and token counts of one answer, fed to metrics and the audit log at the end."""

    def __init__(self, server: Any, key_id: str, p: Prepared, adapter: str | None = None) -> None:
        self.server, self.key_id, self.p, self.adapter = server, key_id, p, adapter
        self.start = time.perf_counter()
        self.first: float | None = None
        self.tokens = 0
        self.pieces: list[str] = []

    def piece(self, text: str) -> None:
        if self.first is None:
            self.first = time.perf_counter()
            self.server.metrics.ttft.observe(self.first - self.start)
        self.tokens += 1
        self.pieces.append(text)

    def timed_out(self) -> bool:
        return time.perf_counter() - self.start > self.server.settings.request_timeout

    def finish(self, finish_reason: str) -> None:
        m = self.server.metrics
        m.tokens_in.inc(self.p.prompt_tokens)
        m.tokens_out.inc(self.tokens)
        if self.first is not None and self.tokens > 1:
            per = (time.perf_counter() - self.first) / (self.tokens - 1)
            for _ in range(self.tokens - 1):
                m.per_token.observe(per)
        self.server.audit.append(
            key_id=self.key_id,
            model=self.server.model_id,
            adapter=self.adapter,
            bundle_sha256=self.server.manifest_sha256,
            chunk_ids=self.p.chunk_ids,
            doc_sha256=self.p.doc_hashes,
            rules=self.p.rules_fired,
            prompt_sha256=text_hash(json.dumps(self.p.messages, sort_keys=True)),
            answer_sha256=text_hash("".join(self.pieces)),
            finish_reason=finish_reason,
            prompt_tokens=self.p.prompt_tokens,
            completion_tokens=self.tokens,
        )

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.p.prompt_tokens,
            "completion_tokens": self.tokens,
            "total_tokens": self.p.prompt_tokens + self.tokens,
        }


async def stream_chat(
    server: Any,
    request: Any,
    llm: Any,
    p: Prepared,
    req: ChatRequest,
    acct: Accounting,
    pool: Any = None,
    model_name: str | None = None,
) -> AsyncIterator[bytes]:
    """SSE chunks; the last one carries finish_reason and the citations.

    A watcher task waits for the client's disconnect and then stops generation and gives the
    instance back itself: once the client is gone the server may never pull this generator
    again, so cleanup cannot wait for its `finally`.
    """
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    state: dict[str, Any] = {"finish_reason": "stop", "released": False}
    it = chat_pieces(llm, p, req, state)
    pool = pool or server.pool
    base = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model_name or server.model_id,
        "system_fingerprint": pool.label,
    }
    step = asyncio.Lock()  # held while a token is being produced in a worker thread

    def release(finish: str) -> None:
        if not state["released"]:
            state["released"] = True
            it.close()
            pool.give(llm)
            acct.finish(finish)

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        async with step:
            release("disconnected")

    watcher = asyncio.create_task(watch())
    finish = "disconnected"  # until the loop below ends on its own
    try:
        yield sse(
            base
            | {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ]
            }
        )
        while True:
            async with step:
                if state["released"]:
                    return
                piece = await anyio.to_thread.run_sync(next, it, None)
            if piece is None:
                finish = state["finish_reason"]
                break
            acct.piece(piece)
            yield sse(
                base
                | {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            )
            if acct.timed_out():
                finish = "length"
                break
        last = base | {
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
            "citations": p.citations,
        }
        if (req.stream_options or {}).get("include_usage"):
            last["usage"] = acct.usage()
        yield sse(last)
        yield b"data: [DONE]\n\n"
    finally:
        watcher.cancel()
        release(finish)
