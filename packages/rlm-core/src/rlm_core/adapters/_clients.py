"""The httpx clients behind one adapter: one sync client, one async client per event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping

import httpx

logger = logging.getLogger("rlm_core.adapters.http")


class ClientPool:
    """Creates clients lazily and reuses them, so calls share connections.

    An ``AsyncClient`` is bound to the loop it was created on; one whose loop has
    closed is dropped and never reused.
    """

    def __init__(self, headers: Mapping[str, str], timeout: float) -> None:
        self._headers = dict(headers)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._sync: httpx.Client | None = None
        self._async: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    @property
    def async_count(self) -> int:
        """How many async clients are open (one per live event loop)."""
        return len(self._async)

    def sync_client(self) -> httpx.Client:
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(headers=self._headers, timeout=self._timeout)
            return self._sync

    def async_client(self) -> httpx.AsyncClient:
        """The AsyncClient of the running loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._forget_dead_loops()
            client = self._async.get(loop)
            if client is None:
                client = httpx.AsyncClient(headers=self._headers, timeout=self._timeout)
                self._async[loop] = client
            return client

    def close(self) -> None:
        """Close the sync client. Async clients are closed by ``aclose()``."""
        with self._lock:
            client, self._sync = self._sync, None
            self._forget_dead_loops()
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's async client, and the sync client."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async.pop(loop, None)
        if client is not None:
            await client.aclose()
        self.close()

    def _forget_dead_loops(self) -> None:
        for loop in [loop for loop in self._async if loop.is_closed()]:
            del self._async[loop]
            logger.debug("dropped an AsyncClient bound to a closed event loop")
