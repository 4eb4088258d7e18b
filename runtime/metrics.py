"""Prometheus metrics for `edgekit serve` (one registry per server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
TOKEN_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "edgekit_requests", "HTTP requests", ["endpoint", "status"], registry=r
        )
        self.tokens_in = Counter("edgekit_prompt_tokens", "Prompt tokens processed", registry=r)
        self.tokens_out = Counter("edgekit_completion_tokens", "Tokens generated", registry=r)
        self.ttft = Histogram(
            "edgekit_time_to_first_token_seconds",
            "Time to first token",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.per_token = Histogram(
            "edgekit_time_per_output_token_seconds",
            "Decode time per output token",
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.retrieval = Histogram(
            "edgekit_retrieval_seconds",
            "Knowledge-base retrieval time",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "edgekit_queue_depth", "Requests waiting for a model instance", registry=r
        )
        self.busy = Gauge("edgekit_instances_busy", "Model instances generating", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
