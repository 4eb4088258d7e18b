"""One generation request as the engine sees it, and the caller's handle on it.

Events flow from the engine thread to the caller: ("start",) when the request gets a slot,
("text", piece) for each piece of text, then ("done", finish_reason, completion_tokens) or
("error", message, http_status): 400 when the request itself is at fault, 500 when the
engine failed. A caller in asyncio passes its loop and awaits; others block.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from edgekit.runtime.engine.sampling import SamplingSpec

Event = tuple[Any, ...]


class QueueFull(Exception):
    """Every slot is busy and the wait queue is full."""


class LaneClosed(Exception):
    """The lane was retired (an adapter swap) and takes no new requests."""


@dataclass
class Job:
    prompt: list[int]
    spec: SamplingSpec
    loop: asyncio.AbstractEventLoop | None = None
    submitted: float = field(default_factory=time.perf_counter)
    cancelled: bool = False
    done: bool = False
    _sync: queue.SimpleQueue[Event] = field(default_factory=queue.SimpleQueue)
    _async: asyncio.Queue[Event] | None = None

    def __post_init__(self) -> None:
        if self.loop is not None:
            self._async = asyncio.Queue()

    def emit(self, *event: Any) -> None:
        if event[0] in ("done", "error"):
            self.done = True
        if self._async is not None and self.loop is not None:
            try:
                self.loop.call_soon_threadsafe(self._async.put_nowait, event)
            except RuntimeError:  # the caller's loop is gone: nobody is listening
                self.cancelled = True
        else:
            self._sync.put(event)


class Handle:
    """The caller's side of a job: read its events, or cancel it."""

    def __init__(self, job: Job, wake: Any) -> None:
        self.job, self._wake = job, wake

    def cancel(self) -> None:
        """Stop generating; the engine frees the slot at its next step."""
        if not self.job.done:
            self.job.cancelled = True
            self._wake()

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        while True:
            event = self.job._sync.get(timeout=timeout)
            yield event
            if event[0] in ("done", "error"):
                return

    async def next_event(self) -> Event:
        if self.job._async is None:
            raise RuntimeError("this handle has no event loop: submit with loop= to await events")
        return await self.job._async.get()

    async def aevents(self) -> AsyncIterator[Event]:
        while True:
            event = await self.next_event()
            yield event
            if event[0] in ("done", "error"):
                return
