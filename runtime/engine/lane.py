"""Continuous batching over one context: N sequence slots, one `llama_decode` per step.

A lane is one llama.cpp context over the shared model with one adapter set. Its thread
runs steps: free the slots of cancelled requests, admit waiting requests into free slots
(reusing the longest cached prefix), then put the next token of every generating sequence
and chunks of waiting prompts into one batch (chunked prefill: a long prompt never stalls
the others for more than `n_batch` tokens), decode it, and sample each sequence that got
logits with its own sampler chain.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgekit import deps
from edgekit.runtime.engine.jobs import Handle, Job, LaneClosed, QueueFull
from edgekit.runtime.engine.model import EngineModel
from edgekit.runtime.engine.sampling import SamplingSpec, TextOut, sampler_chain
from edgekit.runtime.serve.settings import DEFAULT_MAX_QUEUE
from edgekit.runtime.threads import default_threads, physical_cores

log = logging.getLogger("edgekit.serve")
MIN_COPY = 16  # a prefix shorter than this is recomputed rather than copied between slots


@dataclass
class Slot:
    seq: int
    cache: list[int] = field(default_factory=list)  # tokens whose KV this sequence holds
    job: Job | None = None
    pending: list[int] = field(default_factory=list)  # prompt tokens still to decode
    next_token: int | None = None  # sampled, to be decoded next step
    chain: Any = None
    text: TextOut | None = None
    generated: int = 0
    used: float = 0.0  # when it last finished (least recently used is evicted first)


@dataclass(frozen=True)
class LanePlan:
    slots: int
    threads: int
    n_ctx: int  # per sequence
    n_batch: int = 512
    max_queue: int = DEFAULT_MAX_QUEUE


def plan_lane(
    n_ctx: int,
    slots: int | None = None,
    threads: int | None = None,
    max_queue: int = DEFAULT_MAX_QUEUE,
) -> LanePlan:
    """Slots x threads for this machine. Threads as for any llama.cpp run here
    (`default_threads`: the physical cores, as llama-server); a step costs about the same
    for 1 or 16 sequences while decode is memory-bound, so slots default to 4 per core
    (4 to 16)."""

    threads = threads or default_threads()
    slots = slots or max(4, min(16, 4 * physical_cores()))
    return LanePlan(slots=slots, threads=threads, n_ctx=n_ctx, max_queue=max_queue)


def gpu_available() -> bool:
    return bool(deps.require("llama_cpp").llama_supports_gpu_offload())


class Lane:
    def __init__(
        self,
        model: EngineModel,
        plan: LanePlan,
        adapter: str | None = None,
        label: str | None = None,
        observe: Callable[[int, int], None] | None = None,
    ) -> None:
        self.model, self.plan, self.label = model, plan, label
        self.adapter_path = adapter
        self._observe = observe
        llama_cpp = deps.require("llama_cpp")
        self._ll = llama_cpp
        ptr = model.adapter(adapter) if adapter else None  # a bad adapter fails first
        try:
            params = model.context_params(
                plan.n_ctx * plan.slots, plan.slots, plan.threads, plan.n_batch
            )
            self._ctx = model.new_context(params)
        except BaseException:
            if adapter:
                model.release_adapter(adapter)
            raise
        self._mem = llama_cpp.llama_get_memory(self._ctx.ctx)
        self.n_ctx_seq = int(llama_cpp.llama_n_ctx_seq(self._ctx.ctx))
        if ptr is not None:
            arr = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(ptr)
            scales = (ctypes.c_float * 1)(1.0)
            llama_cpp.llama_set_adapters_lora(self._ctx.ctx, arr, 1, scales)
        self._batch = llama_cpp.llama_batch_init(plan.n_batch, 0, 1)
        self.slots = [Slot(i) for i in range(plan.slots)]
        self._inbox: collections.deque[Job] = collections.deque()
        self._cv = threading.Condition()
        self._retired = False
        self.closed = False
        self.steps = 0  # decode steps run
        self._thread = threading.Thread(target=self._run, name=f"lane-{label}", daemon=True)
        self._thread.start()

    # -- caller side ---------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return len(self._inbox)

    @property
    def busy(self) -> int:
        return sum(1 for s in self.slots if s.job is not None)

    def submit(self, prompt: list[int], spec: SamplingSpec, loop: Any = None) -> Handle:
        """Queue a generation; QueueFull when every slot is busy and the queue is full."""
        if not prompt:
            raise ValueError("empty prompt")
        if len(prompt) >= self.n_ctx_seq:
            raise ValueError(f"prompt is {len(prompt)} tokens; a slot holds {self.n_ctx_seq}")
        job = Job(prompt, spec, loop)
        with self._cv:
            if self._retired:
                raise LaneClosed
            free = len(self.slots) - self.busy
            if len(self._inbox) >= self.plan.max_queue + max(0, free):
                raise QueueFull
            self._inbox.append(job)
            self._cv.notify()
        return Handle(job, self._wake)

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify()

    def retire(self) -> None:
        """Take no new requests; close once those in flight and queued are done."""
        with self._cv:
            self._retired = True
            self._cv.notify()

    # -- engine thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cv:
                    self._reap_cancelled()
                    self._admit()
                    active = [s for s in self.slots if s.job is not None]
                    if not active:
                        if self._retired and not self._inbox:
                            break
                        self._cv.wait()
                        continue
                self._step(active)
        except Exception as exc:  # the engine must not die silently: fail what is in flight
            log.exception("engine lane %s failed", self.label)
            failed = f"engine failed: {type(exc).__name__}: {exc}"
            for s in self.slots:
                if s.job is not None:
                    s.job.emit("error", failed, 500)
            for job in self._inbox:
                job.emit("error", failed, 500)
        finally:
            self._close()

    def _close(self) -> None:
        with self._cv:
            self._retired = True
            self.closed = True
        self._ll.llama_batch_free(self._batch)
        self._ctx.close()
        if self.adapter_path:
            self.model.release_adapter(self.adapter_path)

    def _reap_cancelled(self) -> None:
        for job in [j for j in self._inbox if j.cancelled]:
            self._inbox.remove(job)
            job.emit("done", "cancelled", 0)
        for s in self.slots:
            if s.job is not None and s.job.cancelled:
                self._finish(s, "cancelled")

    def _admit(self) -> None:
        while self._inbox:
            free = [s for s in self.slots if s.job is None]
            if not free:
                return
            job = self._inbox.popleft()
            try:
                self._start(job, free)
            except Exception as exc:  # this request's own fault (e.g. its grammar)
                for slot in free:
                    if slot.job is job:
                        slot.job = None
                job.emit("error", f"{type(exc).__name__}: {exc}", 400)

    def _start(self, job: Job, free: list[Slot]) -> None:
        prompt = job.prompt
        best = max(free, key=lambda s: (_lcp(s.cache, prompt), -s.used))
        reuse = min(_lcp(best.cache, prompt), len(prompt) - 1)
        donor = max(self.slots, key=lambda s: _lcp(s.cache, prompt))
        shared = min(_lcp(donor.cache, prompt), len(prompt) - 1)
        mem = self._mem
        if donor is not best and shared >= max(MIN_COPY, reuse + MIN_COPY):
            self._ll.llama_memory_seq_rm(mem, best.seq, -1, -1)
            self._ll.llama_memory_seq_cp(mem, donor.seq, best.seq, -1, -1)
            self._ll.llama_memory_seq_rm(mem, best.seq, shared, -1)
            best.cache = donor.cache[:shared]
        else:
            self._ll.llama_memory_seq_rm(mem, best.seq, reuse, -1)
            best.cache = best.cache[:reuse]
        best.job, best.pending = job, prompt[len(best.cache) :]
        best.next_token, best.generated = None, 0
        best.chain = sampler_chain(self.model, job.spec)
        best.text = TextOut(job.spec.stop)
        job.emit("start", len(best.cache))

    def _step(self, active: list[Slot]) -> None:
        b, budget = self._batch, self.plan.n_batch
        b.n_tokens = 0
        outputs: list[tuple[Slot, int]] = []
        for s in active:
            if s.next_token is not None:
                outputs.append((s, b.n_tokens))
                self._add(s, s.next_token, True)
        for s in sorted(active, key=lambda s: s.job.submitted if s.job else 0.0):
            room = budget - b.n_tokens  # prompts in arrival order: the first waits least
            if not s.pending or room <= 0:
                continue
            chunk, s.pending = s.pending[:room], s.pending[room:]
            for i, tok in enumerate(chunk):
                last = not s.pending and i == len(chunk) - 1
                if last:
                    outputs.append((s, b.n_tokens))
                self._add(s, tok, last)
        if self._observe is not None:
            self._observe(b.n_tokens, len(active))
        with self.model.decode_lock:
            rc = self._ll.llama_decode(self._ctx.ctx, b)
        self.steps += 1
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        for s, idx in outputs:
            self._sample(s, idx)

    def _add(self, s: Slot, token: int, logits: bool) -> None:
        b, i = self._batch, self._batch.n_tokens
        b.token[i] = token
        b.pos[i] = len(s.cache)
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = s.seq
        b.logits[i] = logits
        b.n_tokens = i + 1
        s.cache.append(token)

    def _sample(self, s: Slot, idx: int) -> None:
        if s.job is None or s.text is None:
            raise RuntimeError(f"engine: slot {s.seq} sampled without a request")
        token = self._ll.llama_sampler_sample(s.chain.sampler, self._ctx.ctx, idx)
        if self.model.is_eog(token):
            self._finish(s, "stop")
            return
        s.generated += 1
        text, stopped = s.text.feed(self.model.piece(token))
        if text:
            s.job.emit("text", text)
        if stopped:
            self._finish(s, "stop", flush=False)
        elif s.generated >= s.job.spec.max_tokens or len(s.cache) + 1 >= self.n_ctx_seq:
            self._finish(s, "length")
        else:
            s.next_token = token

    def _finish(self, s: Slot, reason: str, flush: bool = True) -> None:
        if s.job is None:
            raise RuntimeError(f"engine: slot {s.seq} finished without a request")
        if flush and s.text is not None and reason != "cancelled":
            tail = s.text.flush()
            if tail:
                s.job.emit("text", tail)
        s.job.emit("done", reason, s.generated)
        s.job, s.pending, s.next_token, s.chain, s.text = None, [], None, None, None
        s.used = time.perf_counter()


def _lcp(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
