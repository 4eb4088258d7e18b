"""Step 2 of a serve request (after the key check): the API request becomes a
:class:`ServeRequest`: the answer plan as `chat` plans it (edgekit.runtime.answer.request:
retrieval, rules, prompt, token limits, the expert that answers) and the lane that
generates it. A refusal is an ApiError (4xx)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.runtime.answer.path import AnswerPlan, Decoding
from edgekit.runtime.answer.request import Refused, fit, plan_request
from edgekit.runtime.engine import Lane
from edgekit.runtime.engine.upstream import UpstreamLane
from edgekit.runtime.serve.api_error import ApiError
from edgekit.runtime.serve.api_models import ChatRequest, CompletionRequest
from edgekit.runtime.serve.state import ServerState


@dataclass(frozen=True)
class ServeRequest:
    """One planned request: what the later steps (generate, stream, account) read."""

    plan: AnswerPlan
    prompt_tokens: int
    lane: Lane | UpstreamLane
    question: str = ""  # the last user message as sent (before the KB context)
    adapter: str | None = None  # the expert adapter that answers (None: the main lane)
    model_name: str = ""  # the `model` of the response

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.plan.messages

    @property
    def chunk_ids(self) -> list[str]:
        return [h.id for h in self.plan.hits]

    @property
    def doc_hashes(self) -> list[str]:
        return sorted({str(h.meta.get("doc_sha256")) for h in self.plan.hits})

    def citations(self) -> list[dict[str, Any]]:
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
            for n, h in enumerate(self.plan.hits, start=1)
        ]


def check_model(server: ServerState, name: str) -> None:
    """A request's `model` must be this bundle (or `bundle:expert`)."""
    model_id = server.model_id
    if name and name != model_id and not name.startswith(f"{model_id}:"):
        raise ApiError(
            404, f"model {name!r} is not served here; this server serves {model_id!r}", "model"
        )


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


def plan_chat(server: ServerState, req: ChatRequest) -> ServeRequest:
    """A chat request's plan and lane (runs on the server's prepare threads: it embeds and
    retrieves)."""
    check_model(server, req.model)
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
    experts = {name: patterns for name, (_, patterns) in server.experts.items()}
    try:
        planned = plan_request(
            server.answer_settings,
            conversation,
            server.model.count_tokens,
            server.limits,
            kb=server.kb,
            rules=server.rules,
            decoding=decoding,
            use_kb=use_kb and not req.tools,
            experts=experts,
            adapter=req.model.split(":", 1)[1] if ":" in req.model else None,
        )
    except Refused as exc:
        raise ApiError(exc.status, exc.message, exc.param) from None
    plan = planned.plan
    if plan.retrieved or plan.retrieval_seconds:
        server.metrics.retrieval.observe(plan.retrieval_seconds)
    adapter = planned.adapter
    question = next(
        (str(m["content"]) for m in reversed(conversation) if m.get("role") == "user"), ""
    )
    return ServeRequest(
        plan,
        planned.prompt_tokens,
        server.experts[adapter][0] if adapter else server.lane,
        question=question,
        adapter=adapter,
        model_name=f"{server.model_id}:{adapter}" if adapter else server.model_id,
    )


def plan_text(server: ServerState, body: CompletionRequest) -> ServeRequest:
    """A `/v1/completions` request: its prompt as it is (no KB, no rules), within limits."""
    check_model(server, body.model)
    prompt = body.prompt if isinstance(body.prompt, str) else "".join(body.prompt[:1])
    n_prompt = server.model.count_tokens(prompt)
    if n_prompt == 0:
        raise ApiError(400, "prompt is empty", "prompt")
    requested = body.max_tokens or server.answer_settings.max_tokens
    try:
        max_tokens = fit(n_prompt, requested, server.limits, "prompt")
    except Refused as exc:
        raise ApiError(exc.status, exc.message, exc.param) from None
    temperature = body.temperature
    if temperature is None:
        temperature = server.answer_settings.temperature
    sampling = {"max_tokens": max_tokens, "temperature": temperature}
    plan = AnswerPlan([{"role": "user", "content": prompt}], sampling, question=prompt)
    return ServeRequest(plan, n_prompt, server.lane, prompt, model_name=server.model_id)
