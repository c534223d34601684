"""Run items handed over from another thread on an event loop, at most ``limit`` at a time.

A worker task is started for an item when fewer than ``limit`` run, and takes the next
waiting item when its own ends; it ends when nothing waits. So a batch costs the loop one
task per concurrent lane, started when there is work for it, and no idle waiting: a
handed-over item starts in the loop iteration that receives it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class LoopFanOut(Generic[Item]):
    """``run`` every handed-over item on ``loop``, at most ``limit`` concurrently.

    ``hand_over`` and ``wait`` are for the thread that owns the batch; everything else
    runs on the loop. ``run`` must not raise ``Exception`` (it records failures itself); a
    ``BaseException`` from it (e.g. cancellation) ends the batch with that error.
    Cancelling the batch (the loop shutting down, say) cancels its running items and
    starts no further ones.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: int,
        run: Callable[[Item], Awaitable[None]],
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._loop = loop
        self._limit = limit
        self._run = run
        self._waiting: deque[Item] = deque()
        self._running = 0
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._finished: asyncio.Future[None] = loop.create_future()
        self._batch: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(
            self._own(), loop
        )

    # -- for the owning thread -------------------------------------------------------------
    def hand_over(self, items: list[Item], *, last: bool = False) -> threading.Event:
        """Queue ``items`` (in order); with ``last``, no more follow. The event returned is
        set once the loop has started the items it could start (their first step ran)."""
        started = threading.Event()
        self._loop.call_soon_threadsafe(self._take, items, last, started)
        return started

    def wait_started(self, started: threading.Event) -> None:
        """Block until ``started`` is set, or the batch ended early (it was cancelled)."""
        while not started.wait(0.1) and not self._batch.done():
            pass  # the loop is busy

    def wait(self) -> None:
        """Block until every item has run; raises what ended the batch early, if anything."""
        self._batch.result()

    # -- on the loop ---------------------------------------------------------------------
    async def _own(self) -> None:
        """The batch as one task: it ends when every item has run, and cancelling it
        cancels the items in flight."""
        try:
            await self._finished
        except asyncio.CancelledError:
            self._waiting.clear()
            for task in list(self._tasks):
                task.cancel()
            raise

    def _take(self, items: list[Item], last: bool, started: threading.Event) -> None:
        if not self._finished.done():  # cancelled or failed: nothing more starts
            for item in items:
                if self._running < self._limit:
                    self._running += 1
                    task = self._loop.create_task(self._work(item))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    self._waiting.append(item)
            if last:
                self._closed = True
                self._settle()
        # Runs after the tasks just created have taken their first step.
        self._loop.call_soon(started.set)

    async def _work(self, item: Item) -> None:
        run, waiting = self._run, self._waiting
        try:
            while True:
                await run(item)
                if not waiting:
                    break
                item = waiting.popleft()
        except asyncio.CancelledError:
            if not self._finished.done():
                self._finished.cancel()
            raise
        except BaseException as error:  # the batch's task raises it to the owner
            if not self._finished.done():
                self._finished.set_exception(error)
        finally:
            self._running -= 1
            self._settle()

    def _settle(self) -> None:
        if self._closed and not self._running and not self._finished.done():
            self._finished.set_result(None)
