"""Where the text pieces of a streamed model call go while a run is streamed to a user.

The LLM adapter streams every call (to enforce ``max_tokens``) and reports each
piece here; a streaming query engine routes them to its answer stream for the
duration of one run. The step the piece belongs to comes from
``rlm_core.events.current_step``, so the receiver can tell root calls from sub-calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from rlm_core import TraceStep, current_step

DeltaSink = Callable[[TraceStep | None, str], None]

_sink: ContextVar[DeltaSink | None] = ContextVar("rlm_llamaindex_delta_sink", default=None)


@contextlib.contextmanager
def routed_to(sink: DeltaSink) -> Iterator[None]:
    """Send the pieces of model calls made in this context (and copies of it) to ``sink``."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def report(piece: str) -> None:
    """Hand one streamed piece to the active sink, if any, with the step it belongs to."""
    sink = _sink.get()
    if sink is not None and piece:
        sink(current_step.get(), piece)
