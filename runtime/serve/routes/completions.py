"""`/v1/chat/completions` and `/v1/completions`: the HTTP around the request steps, each
called once, in order (docs/architecture.md):

1. the key (edgekit.runtime.serve.auth, a FastAPI dependency);
2. plan (edgekit.runtime.serve.planning: the answer plan as `chat` makes it, and the lane);
3. generate (edgekit.runtime.serve.generation.submit: queue on the lane, wait for a slot);
4. stream (edgekit.runtime.serve.generation.pieces: loop guard, timeout, settle);
5. account (edgekit.runtime.serve.accounting: metrics, audit).

This module only turns the pieces into a JSON response or SSE chunks.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from edgekit.runtime.answer.path import AnswerPlan
from edgekit.runtime.answer.stream import StreamState
from edgekit.runtime.engine import Handle, QueueFull
from edgekit.runtime.engine.completion import LaneCompletion
from edgekit.runtime.serve.accounting import Accounting
from edgekit.runtime.serve.api_error import ApiError
from edgekit.runtime.serve.api_models import ChatRequest, CompletionRequest
from edgekit.runtime.serve.generation import busy, pieces, submit
from edgekit.runtime.serve.planning import ServeRequest, plan_chat, plan_text


def sse(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def span_extra(plan: AnswerPlan) -> dict[str, Any]:
    """A response's `answer_span` (what an extract/quote answer starts with, marked in
    bold in its quote: text, kind, sentence, start, end, citation); {} without one."""
    return {"answer_span": plan.answer_span} if plan.answer_span else {}


def register(app: FastAPI, srv: Any, user: Any, admin: Any) -> None:
    @app.post("/v1/chat/completions", response_model=None)
    async def chat(
        body: ChatRequest, request: Request, key: Any = user
    ) -> Response | dict[str, Any]:
        loop = asyncio.get_running_loop()
        planned = await loop.run_in_executor(srv.prepare_pool, plan_chat, srv, body)
        acct = Accounting(srv, key.id, planned)
        base = {"model": planned.model_name, "system_fingerprint": planned.lane.label}
        if body.tools:
            return await _tool_call(srv, planned, body, acct) | base
        handle = await submit(srv, planned)
        if body.stream:
            return StreamingResponse(
                _stream(request, handle, planned, body, acct, base),
                media_type="text/event-stream",
            )
        state = StreamState()
        async for piece in pieces(handle, planned, state, acct):
            acct.piece(piece)
        text = state.text
        acct.finish(state.finish_reason)
        return base | {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": state.finish_reason,
                }
            ],
            "usage": acct.usage(),
            "citations": planned.citations(),
            **span_extra(planned.plan),
            "replaced": state.replaced,
        }

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest, key: Any = user) -> dict[str, Any]:
        return await _completion(srv, body, key)


async def _stream(
    request: Request,
    handle: Handle | None,
    p: ServeRequest,
    req: ChatRequest,
    acct: Accounting,
    base: dict[str, Any],
) -> AsyncIterator[bytes]:
    """SSE chunks; the last one carries finish_reason and the citations. A watcher task
    cancels the generation when the client goes away (the engine frees the slot at its
    next step): once the client is gone this generator may never be pulled again."""
    base = base | {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
    }
    finished = {"done": False}

    def finish(reason: str) -> None:
        if not finished["done"]:
            finished["done"] = True
            acct.finish(reason)

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        if handle is not None:
            handle.cancel()
        finish("disconnected")

    def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}

    watcher = asyncio.create_task(watch())
    state = StreamState()
    try:
        yield sse(chunk({"role": "assistant", "content": ""}))
        try:
            async for piece in pieces(handle, p, state, acct):
                acct.piece(piece)
                yield sse(chunk({"content": piece}))
        except ApiError as exc:  # after the headers: an error event ends the stream
            yield sse(
                {"error": {"message": exc.message, "type": "server_error", "code": exc.status}}
            )
            yield b"data: [DONE]\n\n"
            finish("error")
            return
        last = chunk({}, state.finish_reason) | {
            "citations": p.citations(),
            "replaced": state.replaced,
        }
        last |= span_extra(p.plan)
        if (req.stream_options or {}).get("include_usage"):
            last["usage"] = acct.usage()
        yield sse(last)
        yield b"data: [DONE]\n\n"
        finish(state.finish_reason)
    finally:
        watcher.cancel()
        if handle is not None:
            handle.cancel()
        finish("disconnected")


async def _tool_call(
    srv: Any, p: ServeRequest, req: ChatRequest, acct: Accounting
) -> dict[str, Any]:
    """One non-streamed completion that may call tools (ChatML function-calling format:
    grammar-constrained, so arguments parse against the tool's JSON schema unless
    `max_tokens` cut them off: then finish_reason is "length", as OpenAI reports it)."""
    from llama_cpp.llama_chat_format import chatml_function_calling

    llm = LaneCompletion(p.lane, srv.settings.request_timeout)

    def run() -> dict[str, Any]:
        try:
            return chatml_function_calling(
                llama=llm,
                messages=p.messages,
                tools=req.tool_dicts(),
                tool_choice=req.tool_choice_value(),
                temperature=float(p.plan.sampling["temperature"]),
                max_tokens=p.plan.max_tokens,
                stream=False,
            )
        except QueueFull:
            raise busy() from None

    result = await anyio.to_thread.run_sync(run)
    if "length" in llm.finishes:
        result["choices"][0]["finish_reason"] = "length"
    message = result["choices"][0]["message"]
    calls = message.get("tool_calls")
    acct.piece(json.dumps(calls) if calls else message.get("content") or "")
    acct.finish(result["choices"][0].get("finish_reason") or "stop")
    return result


async def _completion(srv: Any, body: CompletionRequest, key: Any) -> dict[str, Any]:
    planned = plan_text(srv, body)
    acct = Accounting(srv, key.id, planned)
    llm = LaneCompletion(planned.lane, srv.settings.request_timeout)
    sampling = planned.plan.sampling

    def run() -> dict[str, Any]:
        try:
            return llm.create_completion(
                planned.question,
                max_tokens=sampling["max_tokens"],
                temperature=sampling["temperature"],
                stop=body.stop,
                seed=body.seed,
            )
        except QueueFull:
            raise busy() from None

    result = await anyio.to_thread.run_sync(run)
    acct.tokens = result["usage"]["completion_tokens"]
    acct.pieces = [result["choices"][0]["text"]]
    acct.finish(result["choices"][0].get("finish_reason") or "stop")
    result["model"] = srv.model_id
    return result
