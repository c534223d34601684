"""A ticker on the event loop that measures how long other work kept the loop from it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

TICK_S = 0.005
STALL_BOUND_S = 0.05  # generous: a loaded 2-core machine delays ticks by a few ms anyway


async def with_stall_meter(work: Awaitable[T]) -> tuple[T, float]:
    """``work``'s result and the longest time a 5 ms ticker on the same loop was held up."""
    worst = 0.0
    running = True

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while running:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            worst = max(worst, now - last - TICK_S)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        result = await work
    finally:
        running = False
        await task
    return result, worst


async def least_stall(make_work: Callable[[], Awaitable[T]], attempts: int = 5) -> tuple[T, float]:
    """The result of the first attempt that stays under ``STALL_BOUND_S``, else the last one,
    with its stall. Code that blocks the loop does so on every attempt; a busy machine that
    does not schedule this process for a while only now and then, so a few attempts tell
    the two apart."""
    for _ in range(attempts):
        result, worst = await with_stall_meter(make_work())
        if worst < STALL_BOUND_S:
            break
    return result, worst
