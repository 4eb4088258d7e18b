"""Prometheus metrics for `edgekit serve` (one registry per server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SEQ_BUCKETS = (1, 2, 4, 8, 16, 32)
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
        self.replaced = Counter(
            "edgekit_answers_replaced",
            "Answers from excerpts whose model text was not shown, by reason (unsupported: "
            "claims the excerpts do not hold; degenerate: loops, citations or paths only)",
            ["reason"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "edgekit_queue_depth", "Requests waiting for a free slot", registry=r
        )
        self.busy = Gauge("edgekit_slots_busy", "Slots generating (active lane)", registry=r)
        self.batch_tokens = Histogram(
            "edgekit_batch_tokens",
            "Tokens in one llama.cpp decode step (generating sequences + prompt chunks)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_sequences = Histogram(
            "edgekit_batch_sequences",
            "Sequences in one decode step (slot occupancy)",
            buckets=SEQ_BUCKETS,
            registry=r,
        )

        # `edgekit serve --engine`: one series per upstream server
        self.upstream_requests = Counter(
            "edgekit_upstream_requests",
            "Requests sent to an upstream engine, by outcome (ok; retried: failed before any "
            "text, moved to another upstream; failed: ended with an error)",
            ["upstream", "outcome"],
            registry=r,
        )
        self.upstream_up = Gauge(
            "edgekit_upstream_up",
            "1 when the upstream answers its health check",
            ["upstream"],
            registry=r,
        )
        self.upstream_in_flight = Gauge(
            "edgekit_upstream_in_flight",
            "Requests in flight on the upstream",
            ["upstream"],
            registry=r,
        )

    def upstream_outcome(self, url: str, outcome: str) -> None:
        self.upstream_requests.labels(url, outcome).inc()

    def upstream_state(self, url: str, up: bool, in_flight: int) -> None:
        self.upstream_up.labels(url).set(1 if up else 0)
        self.upstream_in_flight.labels(url).set(in_flight)

    def step(self, tokens: int, sequences: int) -> None:
        """Called by the engine for every decode step."""
        self.batch_tokens.observe(tokens)
        self.batch_sequences.observe(sequences)

    def render(self) -> bytes:
        return generate_latest(self.registry)
