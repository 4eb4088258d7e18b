"""Operations routes: web chat page, /health, /ready, /metrics, /v1/models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response


def register(app: FastAPI, srv: Any, user: Any, admin: Any) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        page = Path(__file__).parent.parent / "web" / "index.html"
        return HTMLResponse(page.read_text().replace("{{MODEL}}", srv.model_id))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        ok = not srv.lane.closed
        body = {
            "ready": ok,
            "slots": srv.plan.slots,
            "threads": srv.plan.threads,
            "gpu_layers": srv.model.gpu_layers,
            "kb": srv.kb is not None,
        }
        if hasattr(srv.lane, "status"):  # --engine: the upstream servers
            body["upstreams"] = srv.lane.status()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    def metrics(_: Any = user) -> Response:
        srv.metrics.queue_depth.set(srv.lane.waiting)
        srv.metrics.busy.set(srv.lane.busy)
        return Response(srv.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    def models(_: Any = user) -> dict[str, Any]:
        data = [{"id": srv.model_id, "object": "model", "created": 0, "owned_by": "edgekit"}]
        for name in srv.experts:
            data.append(
                {
                    "id": f"{srv.model_id}:{name}",
                    "object": "model",
                    "created": 0,
                    "owned_by": "edgekit",
                }
            )
        return {"object": "list", "data": data}
