"""Sub-call replies go to the cache from one background thread, so no call waits on disk.

Sub-calls read the cache through ``CacheWrites.get`` (replies still waiting to be written
are served from memory) and store with ``put``, which only queues the reply. The writer
thread stores what has queued up in one go: ``FileCache.set_many`` appends it to the
process's journal with one write; a cache without ``set_many`` gets ``set`` per reply.
There is one ``CacheWrites`` per cache object (``writes_for``), shared by every run that
uses it, so a run never waits for its writes; ``flush_all`` waits for every queued write
and runs at interpreter exit.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import warnings
import weakref
from typing import Any

from rlm_core.cache import FileCache

MAX_BATCH = 1024
GATHER_SECONDS = 0.02
_registry_lock = threading.Lock()
_shared: weakref.WeakKeyDictionary[Any, CacheWrites] = weakref.WeakKeyDictionary()


def writes_for(cache: Any) -> CacheWrites:
    """The write-behind queue of ``cache`` (one per cache object in this process)."""
    with _registry_lock:
        try:
            writes = _shared.get(cache)
        except TypeError:  # a cache that cannot be weakly referenced: its own queue
            return CacheWrites(cache)
        if writes is None:
            writes = _shared[cache] = CacheWrites(cache)
        return writes


@atexit.register
def flush_all() -> None:
    """Wait until every queued reply of every cache is written (blocking)."""
    with _registry_lock:
        pending = list(_shared.values())
    for writes in pending:
        writes.flush()


class CacheWrites:
    """Write-behind in front of a cache with ``get(key)`` and ``set(key, value)``."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self._pending: dict[str, str] = {}
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: str | None = None

    def refresh(self) -> None:
        """Let the cache look for new entries now if it is due to (``FileCache.refresh``),
        so that the lookups of a batch that follows do not."""
        if isinstance(self.cache, FileCache):
            self.cache.refresh(if_stale=True)

    def get(self, key: str) -> str | None:
        """The cached reply (one not yet written included), or ``None``."""
        waiting = self._pending.get(key)  # one dict read: atomic, no lock to queue on
        if waiting is not None:
            if isinstance(self.cache, FileCache):
                self.cache.count_hit()
            return waiting
        value = self.cache.get(key)
        return value if isinstance(value, str) else None

    def put(self, key: str, value: str) -> None:
        """Queue ``value`` for writing; returns at once."""
        with self._lock:
            self._pending[key] = value
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_all, name="rlm-cache-writer", daemon=True
                )
                self._thread.start()
        self._queue.put((key, value))

    def flush(self) -> None:
        """Wait until every reply queued so far is written."""
        self._queue.join()
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            warnings.warn(
                f"some sub-call replies could not be cached ({error}); the answers are "
                "unaffected, but those calls will be made again next time",
                RuntimeWarning,
                stacklevel=2,
            )

    def _write_all(self) -> None:
        while True:
            batch = [self._queue.get()]
            time.sleep(GATHER_SECONDS)  # let more replies queue up: one write for all
            while len(batch) < MAX_BATCH:  # what queued up meanwhile goes in the same write
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._store(batch)
            except Exception as error:  # a full disk must not fail a run
                with self._lock:
                    self._error = self._error or f"{type(error).__name__}: {error}"
            with self._lock:
                for key, value in batch:
                    if self._pending.get(key) is value:
                        del self._pending[key]
            for _ in batch:
                self._queue.task_done()

    def _store(self, batch: list[tuple[str, str]]) -> None:
        """One append for the whole batch where the cache can (``FileCache.set_many``)."""
        many = getattr(self.cache, "set_many", None)
        if many is not None:
            many(batch)
            return
        for key, value in batch:
            self.cache.set(key, value)
