"""The sync loop: runs beside the gate loop, in its own thread, on its own store connections.

It never delays a verdict: it shares no lock with the gate (its own :class:`Store` object,
and the store keeps lists and the journal in separate files, so applying a big list version
does not hold up a tap's journal append).  It syncs every ``interval`` (with jitter, so a
fleet does not arrive at once), at once when :meth:`SyncLoop.trigger` is called (the
technician's "sync now", or the network coming back), and answers :meth:`SyncLoop.online`
for the code dispatcher (a platform code needs the network).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from offline_store.errors import StoreError
from offline_store.store import Store
from terminal.clock import ClockSample
from terminal.sync.run import SyncOutcome, SyncParts, SyncTarget, run_sync

log = logging.getLogger(__name__)


class SyncLoop:
    def __init__(
        self,
        open_store: Callable[[], Store],
        target: SyncTarget,
        parts: SyncParts,
        *,
        sample: Callable[[], ClockSample],
        interval: float = 300.0,
        on_outcome: Callable[[SyncOutcome], None] | None = None,
    ) -> None:
        self._open_store = open_store
        self._target = target
        self._parts = parts
        self._sample = sample
        self._interval = interval
        self._on_outcome = on_outcome
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last: SyncOutcome | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ykt-sync", daemon=True)
        self._thread.start()

    def trigger(self) -> None:
        """Sync now (at the end of a sync already running, if one is)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def last_outcome(self) -> SyncOutcome | None:
        with self._lock:
            return self._last

    def online(self) -> bool:
        """Whether the last sync reached the back office (its signed time came back)."""
        last = self.last_outcome
        if last is None:
            return False
        return last.trusted_time is not None

    def _run(self) -> None:
        store: Store | None = None
        try:
            while not self._stop.is_set():
                if store is None:
                    try:
                        store = self._open_store()
                    except StoreError as error:  # e.g. busy: try again at the next interval
                        log.error("sync loop cannot open the store: %s", error.message)
                if store is not None:
                    self._sync_once(store)
                # jitter: a fleet restarted together spreads out over the next interval
                self._wake.wait(self._interval * random.uniform(0.8, 1.2))  # noqa: S311
                self._wake.clear()
        finally:
            if store is not None:
                store.close()

    def _sync_once(self, store: Store) -> None:
        try:
            outcome = run_sync(store, self._target, self._parts, sample=self._sample)
        except Exception:
            log.exception("sync failed unexpectedly; the next one runs at the next interval")
            return
        with self._lock:
            self._last = outcome
            self.runs += 1
        for problem in outcome.problems:
            log.warning("sync %s (%s): %s", problem.stage, problem.kind, problem.message)
        if self._on_outcome is not None:
            self._on_outcome(outcome)
