"""Run ``count`` numbered items on a fixed number of lanes: kept idle threads.

The thread counterpart of ``loop_fanout``. Each lane takes the next item number, runs it and
takes another, so a lane whose item ends starts the next one at once. The calling thread only
hands out the numbers and waits: it holds no lock the lanes need.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from functools import partial

from rlm_core.engine.idle_threads import run_on_idle


class _Countdown:
    """Set once ``count`` parties have called ``count_down``."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()
        self._done = threading.Event()

    def count_down(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self._done.set()

    def wait(self) -> None:
        self._done.wait()


def run_on_lanes(count: int, lanes: int, run: Callable[[int], None]) -> None:
    """Call ``run(index)`` for every index in ``range(count)``, on at most ``lanes`` threads
    at once, each lane in its own copy of the caller's ``contextvars`` context.

    ``run`` should handle its own ``Exception``s; a ``BaseException`` that escapes it (e.g.
    ``SystemExit`` raised by a model adapter) ends that lane and is raised here once every
    lane has ended. If the waiting caller is interrupted, the items not yet started are
    skipped, and nothing of the batch runs on after this returns.
    """
    if lanes < 1:
        raise ValueError(f"lanes must be at least 1, got {lanes}")
    if count <= 0:
        return
    feed: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    stop = threading.Event()
    lanes = min(lanes, count)
    ended = _Countdown(lanes)
    escaped: list[BaseException] = []

    def lane(context: contextvars.Context) -> None:
        try:
            while (index := feed.get()) is not None:
                if not stop.is_set():
                    context.run(run, index)
        except BaseException as error:
            escaped.append(error)
        finally:
            ended.count_down()

    for index in range(count):
        feed.put(index)
    for _ in range(lanes):
        feed.put(None)
    for _ in range(lanes):
        run_on_idle(partial(lane, contextvars.copy_context()))
    try:
        ended.wait()
    except BaseException:
        stop.set()
        ended.wait()
        raise
    if escaped:
        raise escaped[0]
