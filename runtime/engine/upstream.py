"""Generation on OpenAI-compatible servers a site already runs (`edgekit serve --engine`).

`UpstreamLane` takes the place of a `Lane`: the request path plans the answer (rules,
retrieval, prompt, limits) and accounts for it (metrics, audit) in edgekit as always; only
the tokens are generated elsewhere (vLLM, llama-server, SGLang: any `/v1/completions`
that takes a prompt of token ids and streams). The prompt goes as the very token ids the
built-in engine would decode, so a greedy answer is the same on both.

Each request runs on a worker thread: pick the healthy upstream with the fewest requests
in flight (round robin among equals), stream from it, emit the engine's events. An
upstream that refuses, fails or drops the request before any text was sent is marked down
and the request moves to the next; once text has reached the client a failure ends the
answer with an error event (a half answer cannot be resumed elsewhere). A health thread
probes every upstream's `/health` and brings it back when it answers again.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from edgekit.runtime.engine.jobs import Handle, Job, QueueFull
from edgekit.runtime.engine.lane import LanePlan
from edgekit.runtime.engine.sampling import SamplingSpec

log = logging.getLogger("edgekit.serve")

HEALTH_SECONDS = 2.0  # between probes of each upstream
CONNECT_SECONDS = 3.0
# what an upstream's /v1/models calls its owner -> the name of its grammar field
GRAMMAR_FIELD = {"llamacpp": "grammar", "sglang": "ebnf", "vllm": "guided_grammar"}


class NotStarted(Exception):
    """The upstream failed before any text of the answer was sent: try another."""


class Broken(Exception):
    """The upstream failed after text was sent: the answer cannot move elsewhere."""


@dataclass
class Upstream:
    url: str
    up: bool = False
    in_flight: int = 0
    owner: str = ""  # /v1/models owned_by: llamacpp, vllm, sglang...
    model: str = ""  # the name the upstream serves, sent as `model`
    last_error: str = ""

    def mark_down(self, why: str) -> None:
        if self.up:
            log.warning("upstream %s down: %s", self.url, why)
        self.up, self.last_error = False, why


def parse_urls(spec: str) -> list[str]:
    """`--engine URL[,URL...]` -> base URLs without a trailing slash or `/v1`."""
    urls = []
    for part in spec.split(","):
        url = part.strip().rstrip("/")
        if not url:
            continue
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--engine {part.strip()!r}: give a URL such as http://host:8000")
        urls.append(url.removesuffix("/v1"))
    if not urls:
        raise ValueError("--engine needs at least one URL")
    if len(set(urls)) != len(urls):
        raise ValueError(f"--engine lists an upstream twice: {spec}")
    return urls


class UpstreamLane:
    """A `Lane` whose generation runs on upstream servers (see the module docstring)."""

    def __init__(
        self,
        urls: list[str],
        model: Any,
        plan: LanePlan,
        timeout: float,
        metrics: Any = None,
        api_key: str | None = None,
    ) -> None:
        self.model, self.plan, self.timeout = model, plan, timeout
        self.label = "upstream"
        self.upstreams = [Upstream(u) for u in urls]
        self.capacity = plan.slots * len(urls) + plan.max_queue
        self._metrics = metrics  # upstream_outcome(url, outcome), upstream_state(url, up, n)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=CONNECT_SECONDS),
            limits=httpx.Limits(max_connections=self.capacity + len(urls)),
        )
        self._lock = threading.Lock()
        self._rr = itertools.count()
        self._active = 0
        self._pool = ThreadPoolExecutor(max_workers=self.capacity, thread_name_prefix="upstream")
        self._stop = threading.Event()
        for u in self.upstreams:
            self._probe(u)
        self._health = threading.Thread(target=self._watch, name="upstream-health", daemon=True)
        self._health.start()

    # -- the Lane interface ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """No upstream answers: not ready."""
        return not any(u.up for u in self.upstreams)

    @property
    def busy(self) -> int:
        return sum(u.in_flight for u in self.upstreams)

    @property
    def waiting(self) -> int:
        return max(0, self._active - self.busy)

    def submit(self, prompt: list[int], spec: SamplingSpec, loop: Any = None) -> Handle:
        if not prompt:
            raise ValueError("empty prompt")
        job = Job(prompt, spec, loop)
        with self._lock:
            if self._active >= self.capacity:
                raise QueueFull
            self._active += 1
        self._pool.submit(self._run, job)
        return Handle(job, lambda: None)

    def retire(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=False)

    # -- one request -----------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        tried: set[str] = set()
        announced = False

        def announce() -> None:  # the request has a place on an upstream: once
            nonlocal announced
            if not announced:
                announced = True
                job.emit("start", 0)

        try:
            while not job.cancelled:
                up = self._pick(tried)
                if up is None:
                    self._report("", "failed")
                    why = "; ".join(f"{u.url}: {u.last_error or 'down'}" for u in self.upstreams)
                    job.emit("error", f"no upstream engine could take the request ({why})", 503)
                    return
                tried.add(up.url)
                try:
                    self._generate(up, job, announce)
                    self._report(up.url, "ok")
                    return
                except NotStarted as exc:
                    up.mark_down(str(exc))
                    self._report(up.url, "retried")
                except Broken as exc:
                    up.mark_down(str(exc))
                    self._report(up.url, "failed")
                    job.emit("error", f"upstream {up.url} failed mid-answer: {exc}", 502)
                    return
                finally:
                    with self._lock:
                        up.in_flight -= 1
                    self._gauge(up)
            job.emit("done", "cancelled", 0)
        except Exception as exc:  # never leave a caller waiting
            log.exception("upstream request failed")
            job.emit("error", f"engine failed: {type(exc).__name__}: {exc}", 500)
        finally:
            with self._lock:
                self._active -= 1

    def _pick(self, tried: set[str]) -> Upstream | None:
        """The healthy upstream with the fewest requests in flight; round robin among
        equals. When none is marked up, one not yet tried (a mark can be stale)."""
        with self._lock:
            left = [u for u in self.upstreams if u.url not in tried]
            healthy = [u for u in left if u.up] or left
            if not healthy:
                return None
            turn = next(self._rr)
            n = len(self.upstreams)
            order = {u.url: (i - turn) % n for i, u in enumerate(self.upstreams)}
            up = min(healthy, key=lambda u: (u.in_flight, order[u.url]))
            up.in_flight += 1
        self._gauge(up)
        return up

    def _generate(self, up: Upstream, job: Job, announce: Callable[[], None]) -> None:
        started = False  # text reached the caller
        n_chunks, usage = 0, None
        body = self._body(up, job)
        try:
            with self._http.stream("POST", f"{up.url}/v1/completions", json=body) as r:
                if r.status_code != 200:
                    detail = r.read().decode(errors="replace")[:300]
                    if r.status_code < 500 and r.status_code != 429:
                        # the request itself is at fault: another upstream would say the same
                        job.emit("error", f"upstream {up.url}: {r.status_code} {detail}", 400)
                        return
                    raise NotStarted(f"HTTP {r.status_code}: {detail}")
                announce()
                finish = None
                for chunk in _sse(r.iter_lines()):
                    if job.cancelled:
                        job.emit("done", "cancelled", n_chunks)
                        return
                    if "error" in chunk:
                        raise ValueError(str(chunk["error"])[:300])
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        text = choice.get("text") or ""
                        if text:
                            started = True
                            n_chunks += 1
                            job.emit("text", text)
                        finish = choice.get("finish_reason") or finish
                if finish is None:
                    raise ValueError("the stream ended without a finish_reason")
        except (httpx.HTTPError, ValueError, json.JSONDecodeError) as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise (Broken(why) if started else NotStarted(why)) from None
        tokens = int((usage or {}).get("completion_tokens") or n_chunks)
        job.emit("done", "length" if finish == "length" else "stop", tokens)

    def _body(self, up: Upstream, job: Job) -> dict[str, Any]:
        s = job.spec
        body: dict[str, Any] = {
            "prompt": job.prompt,
            "max_tokens": s.max_tokens,
            "temperature": max(0.0, s.temperature),
            "top_p": s.top_p,
            "top_k": s.top_k,
            "min_p": s.min_p,
            "frequency_penalty": s.frequency_penalty,
            "presence_penalty": s.presence_penalty,
            "stop": list(s.stop),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if up.model:
            body["model"] = up.model
        if s.seed is not None:
            body["seed"] = s.seed
        if up.owner == "llamacpp":
            body["repeat_penalty"] = s.repeat_penalty
            body["cache_prompt"] = True
        elif s.repeat_penalty != 1.0:
            body["repetition_penalty"] = s.repeat_penalty
        if s.grammar:
            body[GRAMMAR_FIELD.get(up.owner, "grammar")] = s.grammar
        return body

    # -- health ------------------------------------------------------------------------------

    def _probe(self, up: Upstream) -> None:
        try:
            r = self._http.get(f"{up.url}/health", timeout=CONNECT_SECONDS)
            if r.status_code == 404:  # servers without /health: the model list will do
                r = self._http.get(f"{up.url}/v1/models", timeout=CONNECT_SECONDS)
            if r.status_code != 200:
                up.mark_down(f"health: HTTP {r.status_code}")
            else:
                if not up.owner:
                    self._identify(up)
                if not up.up:
                    log.warning("upstream %s up (%s)", up.url, up.owner or "openai")
                up.up, up.last_error = True, ""
        except (httpx.HTTPError, ValueError) as exc:
            up.mark_down(f"health: {type(exc).__name__}: {exc}")
        self._gauge(up)

    def _identify(self, up: Upstream) -> None:
        r = self._http.get(f"{up.url}/v1/models", timeout=CONNECT_SECONDS)
        data = (r.json().get("data") if r.status_code == 200 else None) or [{}]
        up.model, up.owner = str(data[0].get("id") or ""), str(data[0].get("owned_by") or "")

    def _watch(self) -> None:
        while not self._stop.wait(HEALTH_SECONDS):
            for up in self.upstreams:
                self._probe(up)

    def _report(self, url: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.upstream_outcome(url or "none", outcome)

    def _gauge(self, up: Upstream) -> None:
        if self._metrics is not None:
            self._metrics.upstream_state(up.url, up.up, up.in_flight)

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "url": u.url,
                "up": u.up,
                "in_flight": u.in_flight,
                "owner": u.owner,
                "error": u.last_error,
            }
            for u in self.upstreams
        ]


def _sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream, up to `data: [DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)
