"""The event stream: the one source of observability for a run.

The trace, the rich live view, ``RLM.stream()`` and the framework integrations
all subscribe to these events.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from rlm_core.trace import Trace, TraceStep

logger = logging.getLogger("rlm_core")

current_step: contextvars.ContextVar[TraceStep | None] = contextvars.ContextVar(
    "rlm_current_step", default=None
)
"""The step whose model call is in progress in this context (set around every adapter
call), so an adapter can parent its own tracing under the right step."""


@contextlib.contextmanager
def in_step(step: TraceStep | None) -> Iterator[None]:
    """Make ``step`` the ``current_step`` for the duration of the block."""
    token = current_step.set(step)
    try:
        yield
    finally:
        current_step.reset(token)


EventType = Literal[
    "run_start",  # data: query, context metadata
    "step_start",  # a root call, REPL exec or sub-call begins; data: prompt or code
    "step_end",  # it ended; ``step`` holds the finished TraceStep
    "compaction",  # history was summarised; data: tokens_before, tokens_after
    "guard",  # a guard rejected a reply or injected fallback code; data: reason
    "finalize",  # a budget ran out and the model is asked for its best answer
    "answer_delta",  # answer text streamed from the root call writing it; data: text
    "run_end",  # data: answer
    "run_error",  # data: error
]


@dataclass(slots=True)
class Event:
    """Something that happened in a run.

    ``step_id`` identifies the step (or is ``None`` for run-level events);
    ``parent_id`` is the step that caused it (a REPL exec for its sub-calls, a
    recursive sub-call for its sub-run), so listeners can build a call tree.
    """

    type: EventType
    run_id: str
    depth: int = 0
    kind: str | None = None
    step_id: int | None = None
    parent_id: int | None = None
    step: TraceStep | None = None
    data: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class EventListener(Protocol):
    def on_event(self, event: Event) -> None: ...


Listener = EventListener | Callable[[Event], None]


def _as_callable(listener: Listener) -> Callable[[Event], None]:
    if isinstance(listener, EventListener):
        return listener.on_event
    if callable(listener):
        return listener
    raise TypeError(
        f"event listener must be callable or have on_event(event), got {type(listener).__name__}"
    )


class EventBus:
    """Delivers events to listeners in order, one at a time, from any thread.

    A listener that raises is logged and skipped: observability never breaks a run.
    """

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._listeners = [_as_callable(listener) for listener in listeners]
        self._lock = threading.RLock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(_as_callable(listener))

    def emit(self, event: Event) -> None:
        with self._lock:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    logger.exception("event listener %r failed; continuing", listener)


class TraceRecorder:
    """Builds a ``Trace`` from the event stream (steps in the order they started)."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def on_event(self, event: Event) -> None:
        if event.type == "step_start" and event.step is not None:
            self.trace.add(event.step)
