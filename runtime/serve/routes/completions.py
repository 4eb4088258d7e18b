"""The request path of `/v1/chat/completions` and `/v1/completions`, top-down.

plan the answer (retrieval, rules, prompt) -> pick the lane (adapter) -> submit to the
engine and wait for a slot (503 when the queue is full or the wait is too long) -> stream
the pieces (loop guard, timeout, disconnect cancels) -> account (metrics, audit).
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

from edgekit.runtime.answer.path import AnswerPlan, StreamState, settle_answer
from edgekit.runtime.answer.request import Refused, fit
from edgekit.runtime.engine import Handle, Lane, LaneClosed, QueueFull, SamplingSpec
from edgekit.runtime.engine.completion import LaneCompletion
from edgekit.runtime.serve import generation as gen
from edgekit.runtime.serve.api_error import ApiError
from edgekit.runtime.serve.api_models import ChatRequest, CompletionRequest

BUSY = "server busy: every slot is in use and the wait queue is full; retry shortly"


def _busy() -> Exception:
    return ApiError(503, BUSY, headers={"Retry-After": "2"})


async def start(srv: Any, lane: Lane, prompt: list[int], spec: SamplingSpec) -> Handle:
    """Submit to the lane and wait until the request has a slot. A lane retired by an
    adapter swap after the request picked it sends the request to the new lane."""
    loop = asyncio.get_running_loop()
    for _ in range(3):
        try:
            handle = lane.submit(prompt, spec, loop=loop)
            break
        except LaneClosed:
            lane = srv.lane
        except QueueFull:
            raise _busy() from None
        except ValueError as exc:  # e.g. longer than a slot once templated
            raise ApiError(400, str(exc), "messages") from None
    else:
        raise _busy()
    try:
        event = await asyncio.wait_for(handle.next_event(), srv.settings.queue_timeout)
    except asyncio.TimeoutError:
        handle.cancel()
        raise _busy() from None
    if event[0] == "error":
        raise ApiError(event[2], event[1])
    return handle


def answer_plan(p: gen.Prepared) -> AnswerPlan:
    """The answer plan of a prepared chat request (only text completions have none)."""
    if p.plan is None:
        raise ApiError(500, "internal error: a chat request was prepared without an answer plan")
    return p.plan


def span_extra(plan: AnswerPlan) -> dict[str, Any]:
    """A response's `answer_span` (what an extract/quote answer starts with, marked in
    bold in its quote: text, kind, sentence, start, end, citation); {} without one."""
    return {"answer_span": plan.answer_span} if plan.answer_span else {}


def plan_spec(srv: Any, p: gen.Prepared) -> tuple[list[int], SamplingSpec]:
    plan = answer_plan(p)
    prompt = srv.model.chat_prompt(plan.messages)
    params = dict(plan.sampling)
    user_stop = params.get("stop") or []
    params["stop"] = ([user_stop] if isinstance(user_stop, str) else list(user_stop)) + prompt.stop
    return prompt.tokens, SamplingSpec.from_params(params, grammar=plan.grammar)


async def pieces(
    handle: Handle | None, p: gen.Prepared, state: StreamState, acct: gen.Accounting
) -> AsyncIterator[str]:
    """Text pieces of the answer; a fixed reply comes whole, and so does a checked answer
    (one from excerpts: generated in full, judged against them, maybe replaced; see
    edgekit.runtime.answer.path.settle_answer, which `chat` calls too). The loop guard and the
    request timeout cancel the generation; `state.finish_reason` says how it ended."""
    plan = answer_plan(p)
    if handle is None:
        state.finish_reason = "stop"
        yield settle_answer(plan, state)
        return
    try:
        async for event in handle.aevents():
            if event[0] == "text":
                if not plan.checked:
                    yield event[1]
                else:
                    acct.generated()
                if state.guard.feed(event[1]) and plan.loop_guard:
                    state.loop_stopped, state.finish_reason = True, "stop"
                    break
                if acct.timed_out():
                    state.finish_reason = "length"
                    break
            elif event[0] == "done":
                state.finish_reason = event[1]
                acct.tokens = event[2]
            elif event[0] == "error":  # the engine (or every upstream) failed
                raise ApiError(int(event[2]) if len(event) > 2 else 500, str(event[1]))
    finally:
        handle.cancel()  # no-op when it finished; frees the slot otherwise
    text = settle_answer(plan, state)
    acct.replaced = state.replaced
    if plan.checked:
        tokens = acct.tokens
        yield text
        acct.tokens = tokens  # the generated tokens, not the one piece shown


def register(app: FastAPI, srv: Any, user: Any, admin: Any) -> None:
    @app.post("/v1/chat/completions", response_model=None)
    async def chat(
        body: ChatRequest, request: Request, key: Any = user
    ) -> Response | dict[str, Any]:
        srv.check_model(body.model)
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(srv.prepare_pool, gen.prepare_chat, srv, body)
        adapter, lane = prepared.adapter, srv.lane_for(prepared.adapter)
        model_name = f"{srv.model_id}:{adapter}" if adapter else srv.model_id
        acct = gen.Accounting(srv, key.id, prepared, adapter or lane.label)
        base = {"model": model_name, "system_fingerprint": lane.label}
        if body.tools:
            return await _tool_call(srv, lane, prepared, body, acct) | base
        handle = None
        if answer_plan(prepared).fixed_reply is None:
            handle = await start(srv, lane, *plan_spec(srv, prepared))
        if body.stream:
            return StreamingResponse(
                _stream(request, handle, prepared, body, acct, base),
                media_type="text/event-stream",
            )
        state = StreamState()
        async for piece in pieces(handle, prepared, state, acct):
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
            "citations": prepared.citations,
            **span_extra(answer_plan(prepared)),
            "replaced": state.replaced,
        }

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest, key: Any = user) -> dict[str, Any]:
        return await _completion(srv, body, key)


async def _stream(
    request: Request,
    handle: Handle | None,
    p: gen.Prepared,
    req: ChatRequest,
    acct: gen.Accounting,
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
        yield gen.sse(chunk({"role": "assistant", "content": ""}))
        try:
            async for piece in pieces(handle, p, state, acct):
                acct.piece(piece)
                yield gen.sse(chunk({"content": piece}))
        except ApiError as exc:  # after the headers: an error event ends the stream
            yield gen.sse(
                {"error": {"message": exc.message, "type": "server_error", "code": exc.status}}
            )
            yield b"data: [DONE]\n\n"
            finish("error")
            return
        last = chunk({}, state.finish_reason) | {
            "citations": p.citations,
            "replaced": state.replaced,
        }
        last |= span_extra(answer_plan(p))
        if (req.stream_options or {}).get("include_usage"):
            last["usage"] = acct.usage()
        yield gen.sse(last)
        yield b"data: [DONE]\n\n"
        finish(state.finish_reason)
    finally:
        watcher.cancel()
        if handle is not None:
            handle.cancel()
        finish("disconnected")


async def _tool_call(
    srv: Any, lane: Lane, p: gen.Prepared, req: ChatRequest, acct: gen.Accounting
) -> dict[str, Any]:
    """One non-streamed completion that may call tools (ChatML function-calling format:
    grammar-constrained, so arguments parse against the tool's JSON schema unless
    `max_tokens` cut them off: then finish_reason is "length", as OpenAI reports it)."""
    from llama_cpp.llama_chat_format import chatml_function_calling

    llm = LaneCompletion(lane, srv.settings.request_timeout)

    def run() -> dict[str, Any]:
        try:
            return chatml_function_calling(
                llama=llm,
                messages=p.messages,
                tools=req.tool_dicts(),
                tool_choice=req.tool_choice_value(),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                stream=False,
            )
        except QueueFull:
            raise _busy() from None

    result = await anyio.to_thread.run_sync(run)
    if "length" in llm.finishes:
        result["choices"][0]["finish_reason"] = "length"
    message = result["choices"][0]["message"]
    calls = message.get("tool_calls")
    acct.piece(json.dumps(calls) if calls else message.get("content") or "")
    acct.finish(result["choices"][0].get("finish_reason") or "stop")
    return result


async def _completion(srv: Any, body: CompletionRequest, key: Any) -> dict[str, Any]:
    srv.check_model(body.model)
    prompt = body.prompt if isinstance(body.prompt, str) else "".join(body.prompt[:1])
    n_prompt = srv.count_tokens(prompt)
    if n_prompt == 0:
        raise ApiError(400, "prompt is empty", "prompt")
    try:
        max_tokens = fit(n_prompt, body.max_tokens or srv.default_max_tokens, srv.limits, "prompt")
    except Refused as exc:
        raise ApiError(exc.status, exc.message, exc.param) from None
    temperature = srv.default_temperature if body.temperature is None else body.temperature
    llm = LaneCompletion(srv.lane, srv.settings.request_timeout)

    def run() -> dict[str, Any]:
        try:
            return llm.create_completion(
                prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=body.stop,
                seed=body.seed,
            )
        except QueueFull:
            raise _busy() from None

    result = await anyio.to_thread.run_sync(run)
    prepared = gen.Prepared(
        [{"role": "user", "content": prompt}], max_tokens, temperature, n_prompt
    )
    acct = gen.Accounting(srv, key.id, prepared, srv.lane.label)
    acct.tokens = result["usage"]["completion_tokens"]
    acct.pieces = [result["choices"][0]["text"]]
    acct.finish(result["choices"][0].get("finish_reason") or "stop")
    result["model"] = srv.model_id
    return result
