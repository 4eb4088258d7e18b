"""Step 5 of a serve request: account for the answer: time to first token, tokens in
and out, replaced answers (metrics) and one audit line (edgekit.runtime.site.audit)."""

from __future__ import annotations

import json
import time
from typing import Any

from edgekit.runtime.serve.planning import ServeRequest
from edgekit.runtime.serve.state import ServerState
from edgekit.runtime.site.audit import text_hash


class Accounting:
    """Timing and token counts of one answer, fed to metrics and the audit log at the end."""

    def __init__(self, server: ServerState, key_id: str, request: ServeRequest) -> None:
        self.server, self.key_id, self.request = server, key_id, request
        self.adapter = request.adapter or request.lane.label
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
        m.tokens_in.inc(self.request.prompt_tokens)
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
            extra["question"] = self.request.question
            extra["answer"] = "".join(self.pieces)
        self.server.audit.append(
            **extra,
            key_id=self.key_id,
            model=self.server.model_id,
            adapter=self.adapter,
            bundle_sha256=self.server.manifest_sha256,
            chunk_ids=self.request.chunk_ids,
            doc_sha256=self.request.doc_hashes,
            rules=self.request.plan.rules_fired,
            prompt_sha256=text_hash(json.dumps(self.request.messages, sort_keys=True)),
            answer_sha256=text_hash("".join(self.pieces)),
            finish_reason=finish_reason,
            prompt_tokens=self.request.prompt_tokens,
            completion_tokens=self.tokens,
        )

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.request.prompt_tokens,
            "completion_tokens": self.tokens,
            "total_tokens": self.request.prompt_tokens + self.tokens,
        }
