"""Adapter hot swap for `edgekit serve`: follow `<bundle>.adapters/current.json`.

A watcher thread checks the pointer file every `adapter_poll` seconds. When it names another
version (after `edgekit adapter import|rollback`, or the admin endpoint), the new adapter is
verified and loaded over the server's one model, with a new engine lane beside the old one;
then new requests go to the new lane and the old one is retired: requests in flight (and
those already queued on it) finish on the old adapter, and its context closes when the last
one is done. No request fails.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from edgekit.runtime.engine import Lane
from edgekit.runtime.serve.state import ServerState
from edgekit.runtime.site.adapter_store import POINTER, AdapterStore

log = logging.getLogger("edgekit.serve")


class HotSwap:
    """Follows the site adapter store's pointer and swaps the active site adapter into new
    engine lanes."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.store = AdapterStore(server.site.root)
        self.version: str | None = None
        self.last_switch_seconds: float | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stamp = self._pointer_stamp()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pointer_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = (self.store.root / POINTER).stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _new_lane(self, version: str | None, lora: Path | None) -> Lane:
        srv = self.server
        if srv.settings.engine is not None:
            raise ValueError("adapters cannot be switched on upstream engines (--engine)")
        return srv.new_lane(
            srv.plan,
            adapter=str(lora) if lora else None,
            label=f"adapter:{version}" if version else "base",
        )

    def load_active(self) -> Lane:
        """The lane for the adapter active at start (verified like the bundle)."""
        self.version, lora = self.store.active_gguf(self.server.settings.pubkey)
        return self._new_lane(self.version, lora)

    def reload(self) -> bool:
        """Swap to the adapter the pointer names now; True when a swap happened."""
        with self._lock:
            self._stamp = self._pointer_stamp()
            start = time.perf_counter()
            try:
                version, lora = self.store.active_gguf(self.server.settings.pubkey)
                if version == self.version:
                    return False
                lane = self._new_lane(version, lora)
            except Exception as exc:  # keep serving the old adapter, say why
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("adapter switch refused, still serving %s: %s", self.version, exc)
                return False
            old = self.server.lane
            self.server.lane = lane
            old.retire()
            previous, self.version = self.version, version
            self.last_switch_seconds = time.perf_counter() - start
            self.last_error = None
            self.server.audit.append(
                event="adapter_switch",
                adapter_from=previous or "base",
                adapter_to=version or "base",
                seconds=round(self.last_switch_seconds, 3),
            )
            log.warning("adapter switched %s -> %s", previous or "base", version or "base")
            return True

    def start(self) -> None:
        poll = self.server.settings.adapter_poll
        if poll <= 0 or self._thread is not None:
            return

        def watch() -> None:
            while not self._stop.wait(poll):
                if self._pointer_stamp() != self._stamp:
                    self.reload()

        self._thread = threading.Thread(target=watch, name="adapter-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        return {
            "active": self.version or "base",
            "installed": [
                {"version": i.version, "installed": i.installed, "gate": i.gate}
                for i in self.store.installed()
            ],
            "last_switch_seconds": self.last_switch_seconds,
            "last_error": self.last_error,
        }
