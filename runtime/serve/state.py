"""What the request steps (planning, generation, accounting) and the hot swap read from
the running server: a typed view of `server.Server`, so the steps need not import the
module that imports them."""

from __future__ import annotations

from typing import Any, Protocol

from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.runtime.answer.prompting import Rule
from edgekit.runtime.answer.request import Limits
from edgekit.runtime.engine import EngineModel, Lane, LanePlan
from edgekit.runtime.engine.upstream import UpstreamLane
from edgekit.runtime.serve.metrics import Metrics
from edgekit.runtime.serve.settings import ServeSettings
from edgekit.runtime.site.audit import AuditLog
from edgekit.runtime.site.verified import SiteBundle


class ServerState(Protocol):
    """The server as its steps see it (one instance per app)."""

    settings: ServeSettings
    site: SiteBundle
    answer_settings: AnswerSettings
    model: EngineModel
    model_id: str
    manifest_sha256: str
    plan: LanePlan
    lane: Lane | UpstreamLane
    experts: dict[str, tuple[Lane, list[str]]]
    kb: Any  # edgekit.kb.store.KnowledgeBase when the bundle has one (opened lazily)
    rules: list[Rule]
    limits: Limits
    metrics: Metrics
    audit: AuditLog

    def new_lane(
        self, plan: LanePlan, adapter: str | None = None, label: str | None = None
    ) -> Lane: ...
