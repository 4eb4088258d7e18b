"""Turning an API request into an answer plan, and accounting for the answer."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from edgekit.runtime.answer.path import AnswerPlan, Decoding
from edgekit.runtime.answer.request import Refused, plan_request
from edgekit.runtime.serve.api_error import ApiError
from edgekit.runtime.serve.api_models import ChatRequest
from edgekit.runtime.site.audit import text_hash


@dataclass
class Prepared:
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    prompt_tokens: int
    citations: list[dict[str, Any]] = field(default_factory=list)
    chunk_ids: list[str] = field(default_factory=list)
    doc_hashes: list[str] = field(default_factory=list)
    rules_fired: list[str] = field(default_factory=list)
    fixed_reply: str | None = None
    plan: AnswerPlan | None = None
    question: str | None = None  # the last user message as sent (before the KB context)
    adapter: str | None = None  # the expert adapter that answers (None: the main lane)


def _conversation(req: ChatRequest) -> list[dict[str, Any]]:
    msgs = []
    for m in req.messages:
        d: dict[str, Any] = {"role": m.role, "content": m.text()}
        if m.tool_calls:
            d["tool_calls"] = [c.model_dump() for c in m.tool_calls]
        if m.tool_call_id:
            d["tool_call_id"] = m.tool_call_id
        msgs.append(d)
    return msgs


def _last_user(messages: list[dict[str, Any]]) -> str:
    return next((str(m["content"]) for m in reversed(messages) if m.get("role") == "user"), "")


def citation_entries(hits: list[Any]) -> list[dict[str, Any]]:
    """The `citations` list of a response: excerpt [n] is entry n."""
    return [
        {
            "index": n,
            "source": h.source,
            "heading": h.heading,
            "page": h.page,
            "chunk_id": h.id,
            "doc_sha256": h.meta.get("doc_sha256"),
            "text": h.text,
            "label": h.citation(),
        }
        for n, h in enumerate(hits, start=1)
    ]


def prepare_chat(server: Any, req: ChatRequest) -> Prepared:
    """The request's plan (edgekit.runtime.answer.request, as `chat` plans it): retrieval, rules,
    prompt, token limits (a refusal is a 4xx) and the expert adapter that answers."""
    use_kb = server.kb is not None if req.kb is None else req.kb
    if use_kb and server.kb is None:
        raise ApiError(400, "this bundle has no knowledge base; send kb: false", "kb")
    decoding = Decoding(
        max_tokens=req.max_completion_tokens or req.max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        seed=req.seed,
        stop=req.stop,
    )
    conversation = _conversation(req)
    try:
        planned = plan_request(
            server.answer_settings,
            conversation,
            server.count_tokens,
            server.limits,
            kb=server.kb,
            rules=server.rules,
            decoding=decoding,
            use_kb=use_kb and not req.tools,
            experts=server.expert_patterns(),
            adapter=req.model.split(":", 1)[1] if ":" in req.model else None,
        )
    except Refused as exc:
        raise ApiError(exc.status, exc.message, exc.param) from None
    plan = planned.plan
    if plan.retrieved or plan.retrieval_seconds:
        server.metrics.retrieval.observe(plan.retrieval_seconds)
    return Prepared(
        plan.messages,
        plan.max_tokens,
        float(plan.sampling["temperature"]),
        planned.prompt_tokens,
        citations=citation_entries(plan.hits),
        chunk_ids=[h.id for h in plan.hits],
        doc_hashes=sorted({str(h.meta.get("doc_sha256")) for h in plan.hits}),
        rules_fired=plan.rules_fired,
        fixed_reply=plan.fixed_reply,
        plan=plan,
        question=_last_user(conversation),
        adapter=planned.adapter,
    )


def sse(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


class Accounting:
    """Timing and token counts of one answer, fed to metrics and the audit log at the end."""

    def __init__(self, server: Any, key_id: str, p: Prepared, adapter: str | None = None) -> None:
        self.server, self.key_id, self.p, self.adapter = server, key_id, p, adapter
        self.start = time.perf_counter()
        self.first: float | None = None
        self.tokens = 0
        self.pieces: list[str] = []
        self.replaced: str | None = None  # unsupported|degenerate: the model's text was replaced

    def piece(self, text: str) -> None:
        self.generated()
        self.pieces.append(text)

    def generated(self) -> None:
        """One token generated (shown now, or with the rest of a checked answer)."""
        if self.first is None:
            self.first = time.perf_counter()
            self.server.metrics.ttft.observe(self.first - self.start)
        self.tokens += 1

    def timed_out(self) -> bool:
        return time.perf_counter() - self.start > self.server.settings.request_timeout

    def finish(self, finish_reason: str) -> None:
        m = self.server.metrics
        m.tokens_in.inc(self.p.prompt_tokens)
        m.tokens_out.inc(self.tokens)
        if self.first is not None and self.tokens > 1:
            per = (time.perf_counter() - self.first) / (self.tokens - 1)
            for _ in range(self.tokens - 1):
                m.per_token.observe(per)
        extra: dict[str, Any] = {}
        if self.replaced:
            m.replaced.labels(self.replaced).inc()
            extra["replaced"] = self.replaced
        if self.server.settings.audit_text:
            question = self.p.question
            extra["question"] = _last_user(self.p.messages) if question is None else question
            extra["answer"] = "".join(self.pieces)
        self.server.audit.append(
            **extra,
            key_id=self.key_id,
            model=self.server.model_id,
            adapter=self.adapter,
            bundle_sha256=self.server.manifest_sha256,
            chunk_ids=self.p.chunk_ids,
            doc_sha256=self.p.doc_hashes,
            rules=self.p.rules_fired,
            prompt_sha256=text_hash(json.dumps(self.p.messages, sort_keys=True)),
            answer_sha256=text_hash("".join(self.pieces)),
            finish_reason=finish_reason,
            prompt_tokens=self.p.prompt_tokens,
            completion_tokens=self.tokens,
        )

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.p.prompt_tokens,
            "completion_tokens": self.tokens,
            "total_tokens": self.p.prompt_tokens + self.tokens,
        }
