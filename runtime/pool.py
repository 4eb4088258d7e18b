"""A pool of llama.cpp instances with a bounded wait queue.

Every instance maps the same GGUF (weights are mmap'd, so shared by the OS page cache) and
has its own context. A request takes a free instance or waits; when more requests are
already waiting than the queue allows, it is refused at once (the server answers 503 with
Retry-After) instead of piling up.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from edgekit import deps
from edgekit.native import capture_native_output
from edgekit.runtime.threads import physical_cores


class QueueFull(Exception):
    """Too many requests are waiting for a model instance."""


class PoolClosed(Exception):
    """The pool was retired (an adapter swap) and has closed its instances."""


@dataclass(frozen=True)
class PoolPlan:
    instances: int
    threads: int


def plan_pool(instances: int | None = None, threads: int | None = None) -> PoolPlan:
    """Instances x threads for this machine. Decode is memory-bound and llama.cpp's threads
    spin while waiting, so several small instances serve concurrent users better than one
    wide one: one thread each up to 4 cores, else 4 threads per instance."""
    cores = physical_cores()
    threads = threads or (1 if cores <= 4 else 4)
    instances = instances or max(1, min(8, cores // threads))
    return PoolPlan(instances, threads)


def gpu_available() -> bool:
    llama_cpp = deps.require("llama_cpp")
    return bool(llama_cpp.llama_supports_gpu_offload())


class ModelPool:
    def __init__(
        self,
        model_path: str,
        n_ctx: int,
        plan: PoolPlan,
        max_queue: int = 8,
        gpu_layers: int | None = None,
        lora_path: str | None = None,
        label: str | None = None,
    ) -> None:
        llama_cpp = deps.require("llama_cpp")
        self.label = label  # what this pool serves, e.g. the adapter version
        self._retired = False
        self.closed = False
        if gpu_layers is None:
            gpu_layers = -1 if gpu_available() else 0
        self.gpu_layers = gpu_layers
        self.plan = plan
        self.max_queue = max_queue
        self._free: queue.Queue[Any] = queue.Queue()
        self._waiting = 0
        self._lock = threading.Lock()
        self.instances = []
        for _ in range(plan.instances):
            with capture_native_output():
                llm = llama_cpp.Llama(
                    model_path=model_path,
                    lora_path=lora_path,
                    n_ctx=n_ctx,
                    n_threads=plan.threads,
                    n_gpu_layers=gpu_layers,
                    verbose=False,
                )
            self.instances.append(llm)
            self._free.put(llm)

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def busy(self) -> int:
        return len(self.instances) - self._free.qsize()

    def take(self, timeout: float) -> Any:
        """A free instance, waiting up to ``timeout`` seconds; QueueFull when over capacity.
        Give it back with :meth:`give`."""
        with self._lock:
            if self.closed:
                raise PoolClosed
            if self._free.empty() and self._waiting >= self.max_queue:
                raise QueueFull
            self._waiting += 1
        try:
            return self._free.get(timeout=timeout)
        except queue.Empty:
            raise QueueFull from None
        finally:
            with self._lock:
                self._waiting -= 1
                self._close_if_idle()

    def give(self, llm: Any) -> None:
        self._free.put(llm)
        with self._lock:
            self._close_if_idle()

    def retire(self) -> None:
        """Stop being handed out; close every instance once the last request using or
        waiting for one is done (requests in flight finish on this pool)."""
        with self._lock:
            self._retired = True
            self._close_if_idle()

    def _close_if_idle(self) -> None:
        # caller holds self._lock; takers register under it, so none can slip in
        if (
            self._retired
            and not self.closed
            and self._waiting == 0
            and self._free.qsize() == len(self.instances)
        ):
            self.closed = True
            for llm in self.instances:
                llm.close()

    @contextlib.contextmanager
    def acquire(self, timeout: float) -> Iterator[Any]:
        llm = self.take(timeout)
        try:
            yield llm
        finally:
            self.give(llm)
