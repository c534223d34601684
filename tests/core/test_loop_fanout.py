"""LoopFanOut: items handed over from a thread run on the loop, bounded, in order, cancellable."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rlm_core.engine.loop_fanout import LoopFanOut

from tests.core.helpers import SUB, code
from tests.core.test_async_and_events import CTX, _rlm


class Recorder:
    """``run`` for LoopFanOut: notes the order items start in and the peak concurrency."""

    def __init__(self, seconds: float = 0.01) -> None:
        self.seconds = seconds
        self.started: list[int] = []
        self.finished: list[int] = []
        self.cancelled: list[int] = []
        self.active = 0
        self.peak = 0

    async def __call__(self, item: int) -> None:
        self.started.append(item)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.append(item)
            raise
        finally:
            self.active -= 1
        self.finished.append(item)


def in_thread(work: object) -> asyncio.Future[object]:
    """Run ``work()`` in a thread of its own (the owner of the batch), awaitable."""
    return asyncio.ensure_future(asyncio.to_thread(work))  # type: ignore[arg-type]


async def test_items_run_in_hand_over_order_never_more_than_the_limit() -> None:
    loop = asyncio.get_running_loop()
    record = Recorder()

    def owner() -> None:
        fan_out = LoopFanOut(loop, 3, record)
        fan_out.wait_started(fan_out.hand_over([0, 1]))
        fan_out.wait_started(fan_out.hand_over(list(range(2, 10))))
        fan_out.hand_over([10, 11], last=True)
        fan_out.wait()

    await in_thread(owner)
    assert record.started == list(range(12))
    assert sorted(record.finished) == list(range(12))
    assert record.peak == 3


async def test_items_handed_over_after_every_lane_went_idle_still_run() -> None:
    loop = asyncio.get_running_loop()
    record = Recorder(seconds=0.0)

    def owner() -> None:
        fan_out = LoopFanOut(loop, 4, record)
        fan_out.wait_started(fan_out.hand_over([0]))
        time.sleep(0.05)  # item 0 is done and its lane has ended
        fan_out.hand_over([1, 2], last=True)
        fan_out.wait()

    await in_thread(owner)
    assert record.finished == [0, 1, 2]


async def test_an_empty_batch_ends_at_once() -> None:
    loop = asyncio.get_running_loop()
    record = Recorder()

    def owner() -> None:
        fan_out = LoopFanOut(loop, 2, record)
        fan_out.hand_over([], last=True)
        fan_out.wait()

    await asyncio.wait_for(in_thread(owner), 5)
    assert record.started == []


async def test_cancelling_the_batch_cancels_running_items_and_starts_no_more() -> None:
    loop = asyncio.get_running_loop()
    record = Recorder(seconds=30)
    outcome: list[str] = []

    def owner() -> None:
        fan_out = LoopFanOut(loop, 2, record)
        fan_out.wait_started(fan_out.hand_over([0, 1, 2, 3]))
        fan_out._batch.cancel()  # what cancelling the batch's task does, e.g. at loop shutdown
        fan_out.hand_over([4], last=True)
        try:
            fan_out.wait()
        except BaseException as error:
            outcome.append(type(error).__name__)

    await asyncio.wait_for(in_thread(owner), 5)
    await asyncio.sleep(0.01)  # the cancelled items' tasks end
    assert outcome == ["CancelledError"]
    assert record.started == [0, 1]
    assert sorted(record.cancelled) == [0, 1]
    assert record.finished == []


class Stop(BaseException):
    """Not an ``Exception``: ``run`` lets it through, so it ends the batch."""


async def test_a_base_exception_from_an_item_ends_the_batch_with_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()

    async def run(item: int) -> None:
        if item == 1:
            raise Stop("item 1")
        await asyncio.sleep(0)

    caught: list[BaseException] = []

    def owner() -> None:
        fan_out = LoopFanOut(loop, 2, run)
        fan_out.hand_over([0, 1, 2], last=True)
        try:
            fan_out.wait()
        except Stop as error:
            caught.append(error)

    await asyncio.wait_for(in_thread(owner), 5)
    assert [str(error) for error in caught] == ["item 1"]
    assert "never retrieved" not in caplog.text  # raised once, to the owner


def test_limit_must_be_positive() -> None:
    async def run(item: int) -> None:
        return None

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="limit must be at least 1"):
            LoopFanOut(loop, 0, run)
    finally:
        loop.close()


class SlowSubcalls:
    """Root replies from a script; sub-calls await ``seconds`` and note cancellations."""

    model = "slow-async"

    def __init__(self, script: list[str], seconds: float) -> None:
        self.script = script
        self.seconds = seconds
        self.started = 0
        self.cancelled = 0

    def complete(self, messages: list[dict[str, str]], **_: object) -> object:
        raise AssertionError("arun must use acomplete")

    async def acomplete(self, messages: list[dict[str, str]], **_: object) -> object:
        from rlm_core.adapters import ModelResponse, Usage

        if not messages[0]["content"].startswith(SUB):
            return ModelResponse(self.script.pop(0), Usage(1, 1))
        self.started += 1
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return ModelResponse("ok", Usage(1, 1))


@pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')
def test_a_loop_shut_down_mid_batch_cancels_its_subcalls_and_does_not_hang() -> None:
    adapter = SlowSubcalls(
        [code("r = llm_batch([f'p{i}' for i in range(20)])"), "FINAL_VAR: r"], seconds=30
    )
    rlm = _rlm(adapter, parallel_subcalls=True, max_concurrent_subcalls=4)

    async def main() -> None:
        run = asyncio.ensure_future(rlm.arun("q", CTX))
        while adapter.started < 4:
            await asyncio.sleep(0.01)
        run.cancel()  # the REPL thread is still in llm_batch; asyncio.run cancels the rest

    finished = threading.Event()

    def shut_down() -> None:
        asyncio.run(main())
        finished.set()

    runner = threading.Thread(target=shut_down, daemon=True)
    runner.start()
    assert finished.wait(10), "asyncio.run did not return: the batch kept the loop alive"
    assert adapter.started == 4  # no item started after the cancellation
    assert adapter.cancelled == 4
