"""A run's events as an iterator: the run goes on elsewhere while the caller reads them.

``stream_events`` runs a run in a worker thread (in a copy of the caller's
context); ``astream_events`` runs an async run as a task on the caller's loop and
delivers events there, wherever they were emitted. Both end after the run's last
event and re-raise its error.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from rlm_core.events import Event

Start = Callable[[Callable[[Event], None]], Any]
"""Runs the run with one more listener (the stream's); returns when the run is over."""
AsyncStart = Callable[[Callable[[Event], None]], Awaitable[Any]]


def stream_events(start: Start) -> Iterator[Event]:
    """Yield the events of ``start(listener)`` as they happen; its error is raised at the end."""
    events: queue.Queue[Event | None] = queue.Queue()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            start(events.put)
        except BaseException as error:
            failure.append(error)
        finally:
            events.put(None)

    caller_context = contextvars.copy_context()
    worker = threading.Thread(
        target=caller_context.run, args=(work,), name="rlm-stream", daemon=True
    )
    worker.start()
    while (event := events.get()) is not None:
        yield event
    worker.join()
    if failure:
        raise failure[0]


async def astream_events(start: AsyncStart) -> AsyncIterator[Event]:
    """Async ``stream_events``: the run is a task on this loop; events arrive here."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Event] = asyncio.Queue()

    def forward(event: Event) -> None:
        loop.call_soon_threadsafe(events.put_nowait, event)

    task = asyncio.ensure_future(start(forward))
    try:
        while True:
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            await asyncio.sleep(0)  # let forwarded events already scheduled land
            while not events.empty():
                yield events.get_nowait()
            task.result()
            return
    finally:
        if not task.done():
            task.cancel()
