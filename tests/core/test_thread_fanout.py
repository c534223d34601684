"""run_on_lanes: numbered items on a bounded number of kept threads, context kept, errors raised."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from rlm_core.engine.thread_fanout import run_on_lanes

who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


class Recorder:
    """``run`` for run_on_lanes: notes every item and the peak number running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done: list[int] = []
        self.seen: set[str] = set()
        self.active = 0
        self.peak = 0

    def __call__(self, index: int) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.01)
        with self.lock:
            self.active -= 1
            self.done.append(index)
            self.seen.add(who.get())


def test_every_item_runs_once_never_more_than_the_lanes_at_once() -> None:
    record = Recorder()
    run_on_lanes(20, 4, record)
    assert sorted(record.done) == list(range(20))
    assert 1 < record.peak <= 4


def test_lanes_run_in_copies_of_the_callers_context() -> None:
    record = Recorder()
    token = who.set("caller")
    try:
        run_on_lanes(6, 3, record)
    finally:
        who.reset(token)
    assert record.seen == {"caller"}


def test_a_base_exception_from_an_item_is_raised_after_the_lanes_end() -> None:
    record = Recorder()

    def run(index: int) -> None:
        if index == 0:
            raise SystemExit("adapter gave up")
        record(index)

    with pytest.raises(SystemExit, match="adapter gave up"):
        run_on_lanes(5, 2, run)
    assert record.active == 0  # nothing still running when the error arrives
    assert set(record.done) <= {1, 2, 3, 4}


def test_no_items_returns_at_once_and_lanes_must_be_positive() -> None:
    run_on_lanes(0, 4, Recorder())
    with pytest.raises(ValueError, match="lanes must be at least 1"):
        run_on_lanes(3, 0, Recorder())
