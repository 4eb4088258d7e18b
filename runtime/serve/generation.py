"""Steps 3 and 4 of a serve request: generate and stream.

:func:`submit` sends the plan to its lane (engine or upstream) and waits for a slot (503
when the queue is full or the wait is too long); :func:`pieces` streams the answer with
the one loop guard and settles it as `chat` does (edgekit.runtime.answer.stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from edgekit.runtime.answer.stream import StreamState, settle_answer
from edgekit.runtime.engine import Handle, LaneClosed, QueueFull, SamplingSpec
from edgekit.runtime.serve.accounting import Accounting
from edgekit.runtime.serve.api_error import ApiError
from edgekit.runtime.serve.planning import ServeRequest
from edgekit.runtime.serve.state import ServerState

BUSY = "server busy: every slot is in use and the wait queue is full; retry shortly"


def busy() -> ApiError:
    return ApiError(503, BUSY, headers={"Retry-After": "2"})


def _spec(server: ServerState, request: ServeRequest) -> tuple[list[int], SamplingSpec]:
    plan = request.plan
    prompt = server.model.chat_prompt(plan.messages)
    params = dict(plan.sampling)
    user_stop = params.get("stop") or []
    params["stop"] = ([user_stop] if isinstance(user_stop, str) else list(user_stop)) + prompt.stop
    return prompt.tokens, SamplingSpec.from_params(params, grammar=plan.grammar)


async def submit(server: ServerState, request: ServeRequest) -> Handle | None:
    """Queue the request on its lane and wait until it has a slot; None for a fixed reply
    (nothing to generate). A lane retired by an adapter swap after the request was planned
    sends it to the new lane."""
    if request.plan.fixed_reply is not None:
        return None
    tokens, spec = _spec(server, request)
    loop = asyncio.get_running_loop()
    lane = request.lane
    for _ in range(3):
        try:
            handle = lane.submit(tokens, spec, loop=loop)
            break
        except LaneClosed:
            lane = server.lane
        except QueueFull:
            raise busy() from None
        except ValueError as exc:  # e.g. longer than a slot once templated
            raise ApiError(400, str(exc), "messages") from None
    else:
        raise busy()
    try:
        event = await asyncio.wait_for(handle.next_event(), server.settings.queue_timeout)
    except asyncio.TimeoutError:
        handle.cancel()
        raise busy() from None
    if event[0] == "error":
        raise ApiError(event[2], event[1])
    return handle


async def pieces(
    handle: Handle | None, request: ServeRequest, state: StreamState, acct: Accounting
) -> AsyncIterator[str]:
    """Text pieces of the answer; a fixed reply comes whole, and so does a checked answer
    (one from excerpts: generated in full, judged against them, maybe replaced; see
    edgekit.runtime.answer.stream.settle_answer, which `chat` calls too). The loop guard
    and the request timeout cancel the generation; `state.finish_reason` says how it ended."""
    plan = request.plan
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
