"""Admin routes (admin key): adapter status and switch, API key list."""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastapi import FastAPI, Request

from edgekit.errors import EdgekitError
from edgekit.runtime.serve.api_error import ApiError
from edgekit.runtime.serve.auth import list_keys


def register(app: FastAPI, srv: Any, user: Any, admin: Any) -> None:
    @app.get("/admin/adapters")
    def adapter_status(_: Any = admin) -> dict[str, Any]:
        return srv.hot_swap.status()

    @app.post("/admin/adapters/activate")
    async def adapter_activate(request: Request, _: Any = admin) -> dict[str, Any]:
        """Body {"version": "v3"} (or "base"; omitted: roll back to the previous one).
        Switches the pointer like `edgekit adapter rollback`, then swaps at once."""

        usage = 'send {"version": "<installed version or base>"}'
        try:
            body = await request.json() if await request.body() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, usage) from None
        if not isinstance(body, dict):
            raise ApiError(400, f"{usage}: the body must be a JSON object")
        version = body.get("version")
        if version is not None and not isinstance(version, str):
            raise ApiError(400, f"{usage}: version must be a string", "version")
        site = srv.hot_swap
        try:
            await anyio.to_thread.run_sync(site.store.rollback, version)
        except EdgekitError as exc:
            raise ApiError(400, str(exc), "version") from None
        await anyio.to_thread.run_sync(site.reload)
        if site.last_error:
            raise ApiError(500, f"switch failed, still serving {site.version}: {site.last_error}")
        return site.status()

    @app.get("/admin/keys")
    def list_api_keys(_: Any = admin) -> dict[str, Any]:

        return {"keys": [k.__dict__ for k in list_keys(srv.site.root)]}
