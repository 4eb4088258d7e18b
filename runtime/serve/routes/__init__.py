"""The server's routes, one module per concern; each has `register(app, srv, user, admin)`.

ops (page, health, ready, metrics, models) · completions (chat and text completions: the request
path to the engine) · kb_tools (embeddings, tools) · admin (adapters, keys).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request

from edgekit.runtime.serve.api_error import ApiError
from edgekit.runtime.serve.auth import ApiKey


def auth_dependency(srv: Any, role: str) -> Any:
    """A FastAPI dependency: the caller's API key, checked for ``role``."""

    def check(request: Request) -> ApiKey:
        if srv.settings.no_auth:
            return ApiKey("no-auth", "admin", "", "", False)
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise ApiError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' "
                "(create one with `edgekit apikey add`)",
            )
        key = srv.keys.check(header[7:].strip())
        if key is None:
            raise ApiError(401, "invalid or revoked API key")
        if role == "admin" and key.role != "admin":
            raise ApiError(403, "this endpoint needs an admin key")
        return key

    return Depends(check)


def register_all(app: FastAPI, srv: Any) -> None:
    from edgekit.runtime.serve.routes import admin, completions, kb_tools, ops

    user, adm = auth_dependency(srv, "user"), auth_dependency(srv, "admin")
    register: list[Callable[..., None]] = [
        ops.register,
        completions.register,
        kb_tools.register,
        admin.register,
    ]
    for r in register:
        r(app, srv, user, adm)
