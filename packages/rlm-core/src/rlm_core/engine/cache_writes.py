"""Sub-call replies go to the cache from one background thread, so no call waits on disk.

A run's sub-calls read the cache through ``CacheWrites.get`` (replies still waiting to be
written are served from memory) and store with ``put``, which only queues the reply. The
writer thread calls the cache's own ``set`` (``FileCache`` writes atomically), so an entry on
disk is always whole. ``flush`` waits for every queued write: the run calls it before it
ends, so a finished run's replies are all on disk.
"""

from __future__ import annotations

import queue
import threading
import warnings
from typing import Any


class CacheWrites:
    """Write-behind in front of a cache with ``get(key)`` and ``set(key, value)``."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self._pending: dict[str, str] = {}
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: str | None = None

    def get(self, key: str) -> str | None:
        """The cached reply (one not yet written included), or ``None``."""
        with self._lock:
            waiting = self._pending.get(key)
        if waiting is not None:
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
        """Wait until every queued reply is written and stop the writer thread."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join()
        with self._lock:
            self._thread = None
            error, self._error = self._error, None
        if error is not None:
            warnings.warn(
                f"some sub-call replies could not be cached ({error}); the run's answers are "
                "unaffected, but those calls will be made again next time",
                RuntimeWarning,
                stacklevel=2,
            )

    def _write_all(self) -> None:
        while (item := self._queue.get()) is not None:
            key, value = item
            try:
                self.cache.set(key, value)
            except Exception as error:  # a full disk must not fail the run
                with self._lock:
                    self._error = self._error or f"{type(error).__name__}: {error}"
            with self._lock:
                if self._pending.get(key) is value:
                    del self._pending[key]
