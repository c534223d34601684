"""Threads kept between batches, so the sub-calls of a batch start without creating threads.

Starting a thread costs about 0.1-0.2 ms, and a 64-way batch used to start 64 of them (and
join them at the end), which held back the first call of the last threads by several
milliseconds. ``run_on_idle`` hands a task to a thread left idle by an earlier batch, or
starts a new one. A thread idle for ``IDLE_SECONDS`` ends; a forked child starts afresh.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable

IDLE_SECONDS = 30.0

Task = Callable[[], None]


class _Slot:
    """One kept thread's inbox."""

    __slots__ = ("inbox",)

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[Task] = queue.SimpleQueue()


_lock = threading.Lock()
_idle: list[_Slot] = []  # a stack: the most recently used (warmest) thread goes first
_names = itertools.count()


def run_on_idle(task: Task) -> None:
    """Run ``task()`` on a kept idle thread, or on a new one; returns at once.

    ``task`` must handle its own exceptions: one that escapes is reported by
    ``threading.excepthook`` and ends that thread.
    """
    with _lock:
        slot = _idle.pop() if _idle else None
    if slot is None:
        slot = _Slot()
        thread = threading.Thread(
            target=_serve, args=(slot,), name=f"rlm-subcall-{next(_names)}", daemon=True
        )
        thread.start()
    slot.inbox.put(task)


def idle_count() -> int:
    """How many kept threads are idle now (for tests and diagnostics)."""
    with _lock:
        return len(_idle)


def _serve(slot: _Slot) -> None:
    while True:
        try:
            task = slot.inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with _lock:
                if slot in _idle:  # nobody took this thread meanwhile: leave
                    _idle.remove(slot)
                    return
            continue  # it was just taken: its task is on the way
        task()
        with _lock:
            _idle.append(slot)


def _forget_in_child() -> None:
    """A forked child has none of the parent's threads: never hand a task to one."""
    global _lock
    _lock = threading.Lock()
    _idle.clear()


os.register_at_fork(after_in_child=_forget_in_child)
