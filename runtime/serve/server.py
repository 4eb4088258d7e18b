"""`edgekit serve`: an OpenAI-compatible server for one verified bundle (no torch).

Endpoints: /v1/chat/completions (SSE streaming or not), /v1/completions, /v1/embeddings,
/v1/models, /v1/tools, /health, /ready, /metrics, / (web chat), /openapi.json.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import AnswerSettings, attention
from edgekit.fsutil import sha256_file
from edgekit.runtime.answer.knowledge import has_kb, open_kb
from edgekit.runtime.answer.prompting import load_rules, load_tools
from edgekit.runtime.answer.request import Limits
from edgekit.runtime.engine import EngineModel, Lane, LanePlan, gpu_available, plan_lane
from edgekit.runtime.engine.upstream import UpstreamLane, parse_urls
from edgekit.runtime.serve.api_error import ApiError, error_response
from edgekit.runtime.serve.auth import KeyStore
from edgekit.runtime.serve.hotswap import HotSwap
from edgekit.runtime.serve.http_limits import LimitsAndCounts
from edgekit.runtime.serve.metrics import Metrics
from edgekit.runtime.serve.settings import ServeSettings
from edgekit.runtime.site import audit as audit_mod
from edgekit.runtime.site.verified import SiteBundle, open_bundle

log = logging.getLogger("edgekit.serve")


class Server:
    """Everything one app instance holds: bundle, model and lanes, KB, rules, tools, keys,
    metrics."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.site: SiteBundle = open_bundle(
            settings.bundle, full_verify=settings.full_verify, pubkey=settings.pubkey
        )
        self.answer_settings = AnswerSettings.from_manifest(
            self.site.manifest, chosen=not settings.config_settings
        )
        self.n_ctx = self.answer_settings.n_ctx
        self.model_id = self.site.name
        self.manifest_sha256 = sha256_file(self.site.root / mf.MANIFEST_FILE)
        self.metrics = Metrics()
        upstream = settings.engine is not None
        gpu_layers = settings.gpu_layers
        if gpu_layers is None:
            gpu_layers = -1 if not upstream and gpu_available() else 0
        self.model = EngineModel(
            str(self.site.model_path()),
            gpu_layers,
            attention(gpu_layers, fast=settings.fast_attention),
            vocab_only=upstream,
        )
        self.plan: LanePlan = plan_lane(
            self.n_ctx, settings.slots, settings.threads, settings.max_queue
        )
        self.hot_swap = HotSwap(self)
        self.experts: dict[str, tuple[Lane, list[str]]] = {}
        self.lane: Lane | UpstreamLane
        if upstream:
            self.lane = self._upstream_lane(settings)
        else:
            self.lane = self.hot_swap.load_active()
        expert_plan = replace(self.plan, slots=min(2, self.plan.slots))
        for e in self.site.meta.experts:
            if e.gguf and not upstream:
                lane = self.new_lane(
                    expert_plan,
                    adapter=str(self.site.root / e.gguf),
                    label=f"expert:{e.name}",
                )
                self.experts[e.name] = (lane, list(e.patterns))
        self.kb = None
        # prompts are prepared (tokenize, embed, retrieve) on a few threads of their own,
        # so a burst of clients cannot take every worker thread the event loop has
        self.prepare_pool = ThreadPoolExecutor(
            max_workers=max(2, min(8, (os.cpu_count() or 2) // 2)),
            thread_name_prefix="edgekit-prepare",
        )

        if has_kb(self.site):
            self.kb = open_kb(self.site)
        self.rules = load_rules(self.site.root / mf.RULES_FILE)
        self.tools = load_tools(self.site.root / mf.TOOLS_DIR)
        self.keys = KeyStore(self.site.root)
        log = settings.audit_log or self.site.root.with_name(self.site.root.name + ".audit.jsonl")
        self.audit = audit_mod.AuditLog(log, key_path=settings.audit_key)
        self.limits = Limits.of(self.n_ctx, settings.max_prompt_tokens, settings.max_output_tokens)
        if not upstream:
            self.hot_swap.start()

    def _upstream_lane(self, settings: ServeSettings) -> UpstreamLane:
        """Generation on the `--engine` servers. They run the bundle's merged weights:
        expert adapters and the site adapter store are not applied there (say so)."""
        if self.site.meta.experts or self.hot_swap.store.installed():
            log.warning(
                "--engine: expert and site adapters are not served by upstream engines; "
                "every request is answered by the upstream's model"
            )
        return UpstreamLane(
            parse_urls(settings.engine or ""),
            self.model,
            self.plan,
            settings.request_timeout,
            metrics=self.metrics,
            api_key=settings.engine_key,
        )

    def new_lane(
        self, plan: LanePlan, adapter: str | None = None, label: str | None = None
    ) -> Lane:
        """A lane of continuous batching over the server's one model."""
        return Lane(self.model, plan, adapter=adapter, label=label, observe=self.metrics.step)


def create_app(settings: ServeSettings) -> FastAPI:

    srv = Server(settings)
    app = FastAPI(title="edgekit", version="1", description=f"Serving {srv.model_id}")
    app.state.server = srv

    @app.exception_handler(ApiError)
    async def _apierror_response(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"] if x != "body") or "body"
            problems.append(f"{loc}: {e['msg']}")
        return error_response(
            422, "; ".join(problems), problems[0].split(":")[0] if problems else None
        )

    app.add_middleware(
        LimitsAndCounts,
        limit=settings.max_body_bytes,
        count=lambda path, code: srv.metrics.requests.labels(path, str(code)).inc(),
    )
    from edgekit.runtime.serve.routes import register_all

    register_all(app, srv)
    return app
