"""``arun`` and ``astream`` on the default backend never hold the event loop.

Starting the sandbox worker and its handshake, closing it, recursive sub-runs (each with its
own worker) and the sub-call cache's reads and writes all happen off the loop, so a ticker on
the loop keeps ticking. Each test does one unmeasured run first: the first run in a process
imports modules, which holds the interpreter lock for a while.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from rlm_core import RLM, FileCache
from rlm_core.adapters import FakeAdapter
from rlm_core.engine.cache_writes import flush_all
from rlm_core.repl.python_repl import create_python_repl

from tests.core.helpers import SUB, code
from tests.loop_stall import STALL_BOUND_S, least_stall, with_stall_meter

BATCH = code("replies = llm_batch(['a', 'b', 'c', 'd'])\nprint(len(replies))")


def _rlm(**options: object) -> RLM:
    adapter = FakeAdapter(script=[BATCH], default="FINAL: done")
    adapter.add_rule(SUB, "sub-answer")
    return RLM(adapter, parallel_subcalls=True, **options)  # type: ignore[arg-type]


async def _arun(rlm: RLM) -> str:
    answer, _ = await rlm.arun("How many replies?", "some context")
    return answer


async def test_arun_with_the_cache_does_not_stall_the_loop(tmp_path: Path) -> None:
    await _arun(_rlm())
    cache = FileCache(tmp_path)
    answer, worst = await least_stall(lambda: _arun(_rlm(cache=cache)))
    assert answer == "done"
    assert worst < STALL_BOUND_S, f"the loop was held for {worst * 1000:.0f} ms"
    await asyncio.to_thread(flush_all)  # the writes happen behind the run
    fresh = FileCache(tmp_path)  # as another process would read it
    key = fresh.key_for("fake", [{"role": "user", "content": "x"}], 1, 0.0)
    assert fresh.get(key) is None and len(fresh._index) == 4
    answer, worst = await least_stall(lambda: _arun(_rlm(cache=cache)))  # now all hits
    assert answer == "done" and cache.hits >= 4  # (4 per attempt)
    assert worst < STALL_BOUND_S, f"the loop was held for {worst * 1000:.0f} ms"


async def test_recursive_sub_runs_do_not_stall_the_loop() -> None:
    await _arun(_rlm())
    answer, worst = await least_stall(lambda: _arun(_rlm(recursive_subcalls=True)))
    assert answer == "done"
    assert worst < STALL_BOUND_S, f"the loop was held for {worst * 1000:.0f} ms"


async def test_astream_does_not_stall_the_loop() -> None:
    await _arun(_rlm())

    async def kinds() -> list[str]:
        return [event.type async for event in _rlm().astream("How many?", "some context")]

    seen, worst = await least_stall(kinds)
    assert seen[0] == "run_start" and seen[-1] == "run_end"
    assert worst < STALL_BOUND_S, f"the loop was held for {worst * 1000:.0f} ms"


class SlowRepls:
    """A REPL factory that takes 0.2 s to start a REPL and counts opened and closed ones."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    def __call__(self, toolkit: object, *, max_output_chars: int) -> object:
        time.sleep(0.2)
        repl = create_python_repl(toolkit, max_output_chars=max_output_chars)  # type: ignore[arg-type]
        self.opened += 1
        close = repl.close

        def counted_close() -> None:
            self.closed += 1
            close()

        repl.close = counted_close  # type: ignore[method-assign]
        return repl


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
async def test_a_run_cancelled_while_its_repl_starts_closes_that_repl() -> None:
    repls = SlowRepls()
    rlm = _rlm(repl_backend=repls)
    task = asyncio.create_task(_arun(rlm))
    _, worst = await with_stall_meter(asyncio.sleep(0.05))  # the REPL is starting
    assert worst < STALL_BOUND_S
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if repls.closed:
            break
        await asyncio.sleep(0.02)
    assert (repls.opened, repls.closed) == (1, 1)


async def test_a_session_turn_does_not_stall_the_loop() -> None:
    await _arun(_rlm())

    async def two_turns() -> list[str]:
        adapter = FakeAdapter(script=[BATCH, "FINAL: one", BATCH, "FINAL: two"])
        adapter.add_rule(SUB, "sub-answer")
        rlm = RLM(adapter, parallel_subcalls=True)
        async with rlm.session() as session:
            first, _ = await session.arun("First?", "some context")
            second, _ = await session.arun("Second?")
        return [first, second]

    answers, worst = await least_stall(two_turns)
    assert answers == ["one", "two"]
    assert worst < STALL_BOUND_S, f"the loop was held for {worst * 1000:.0f} ms"
