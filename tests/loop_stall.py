"""A ticker on the event loop that measures how long other work kept the loop from it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
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
