"""The server's outermost layer: body size limit enforced while reading, requests counted.

A pure ASGI middleware (Starlette's BaseHTTPMiddleware would buffer streamed responses and
hide client disconnects). The body limit holds whether or not the client sends a
Content-Length: a declared length over the limit is refused before anything is read; a
chunked (or under-declared) body is read up to the limit and refused with 413 as soon as
one byte more arrives, so at most ``limit`` bytes are ever held. A body within the limit is
handed to the app unchanged; later ``receive`` calls go to the client, so a disconnect
during a streamed answer is still seen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from edgekit.runtime.serve.api_error import error_response

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]


class TooLarge(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def read_body(receive: Receive, limit: int) -> tuple[list[Message], bool]:
    """Read the request body messages, at most ``limit`` bytes of them.

    Returns (messages, complete). Raises TooLarge past the limit. ``complete`` is False when
    the client went away before the end of the body (the disconnect message is kept, so the
    app sees it).
    """
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if size > limit:
            raise TooLarge(f"request body is over {limit} bytes (max_body_bytes)")
        if not message.get("more_body", False):
            return messages, True


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that returns the buffered body first, then the client's own."""
    pending = list(messages)

    async def again() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return again


def route_label(scope: Message) -> str:
    """The matched route's template (``/v1/tools/{name}``), never the raw path: a label per
    distinct URL would let any client grow /metrics (and memory) without bound."""
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


class LimitsAndCounts:
    """Refuses oversized bodies with 413, counts requests by path and status."""

    def __init__(self, app: Any, limit: int, count: Callable[[str, int], None]) -> None:
        self.app, self.limit, self.count = app, limit, count

    async def __call__(self, scope: Message, receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            self._check_declared(scope)
            if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                messages, _ = await read_body(receive, self.limit)
                receive = replay(messages, receive)
        except TooLarge as exc:
            response = error_response(413, exc.detail)
            response.headers["Connection"] = "close"
            await response(scope, receive, counting_send)
        else:
            await self.app(scope, receive, counting_send)
        self.count(route_label(scope), status["code"])

    def _check_declared(self, scope: Message) -> None:
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            raise TooLarge(
                f"request body is {int(length)} bytes; the limit is {self.limit} (max_body_bytes)"
            )
