"""Knowledge-base and tool routes: /v1/embeddings, /v1/tools, /v1/tools/NAME."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import FastAPI, Request

from edgekit.runtime.serve.api_error import ApiError
from edgekit.runtime.serve.api_models import EmbeddingRequest


def register(app: FastAPI, srv: Any, user: Any, admin: Any) -> None:
    @app.post("/v1/embeddings")
    def embeddings(body: EmbeddingRequest, _: Any = user) -> dict[str, Any]:
        if srv.kb is None:
            raise ApiError(400, "this bundle has no embedder (it was built without docs)")
        texts = [body.input] if isinstance(body.input, str) else list(body.input)
        if not texts:
            raise ApiError(400, "input is empty", "input")
        # embedded as passages (the passage prefix, as the KB's chunks), so that they compare
        # with the KB's vectors; usage counts the input's tokens, without the prefix
        vectors = srv.kb.embedder.embed_passages(texts)
        n = sum(srv.kb.embedder.count_tokens(t) for t in texts)

        def encode(v: Any) -> Any:
            if body.encoding_format == "base64":  # what the openai client asks for
                return base64.b64encode(v.astype("<f4").tobytes()).decode()
            return v.tolist()

        return {
            "object": "list",
            "model": "edgekit-embedder",
            "data": [
                {"object": "embedding", "index": i, "embedding": encode(v)}
                for i, v in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": n, "total_tokens": n},
        }

    @app.get("/v1/tools")
    def tools(_: Any = user) -> dict[str, Any]:
        return {"object": "list", "data": [t.spec() for t in srv.tools.values()]}

    @app.post("/v1/tools/{name}")
    async def call_tool(name: str, request: Request, _: Any = user) -> dict[str, Any]:
        tool = srv.tools.get(name)
        if tool is None:
            raise ApiError(404, f"no tool {name!r} in this bundle", "name")
        usage = "send the tool's arguments as a JSON object"
        try:
            args = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, usage) from None
        if not isinstance(args, dict):
            raise ApiError(400, f"{usage}, not {type(args).__name__}")
        try:
            result = tool.function(**args)
        except TypeError as exc:
            raise ApiError(400, f"bad arguments for {name}: {exc}") from None
        return {"name": name, "result": result}
