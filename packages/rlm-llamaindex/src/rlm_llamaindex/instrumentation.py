"""The core's event stream as LlamaIndex instrumentation: spans and events.

Every trace step (root call, REPL exec, sub-call) becomes a span whose parent is
the span of the step that caused it (a sub-call's REPL exec), or the span that
was active when the run started (the query engine's span). While a step runs,
its span is the active one, so the LlamaIndex LLM calls it makes nest under it,
also in the core's sub-call worker threads (they copy ``contextvars``).
"""

from __future__ import annotations

import inspect
import threading
import uuid
import weakref
from collections.abc import Callable
from contextvars import Token
from typing import Any, Literal

from llama_index.core.instrumentation.span import active_span_id
from llama_index_instrumentation import get_dispatcher
from llama_index_instrumentation.base import BaseEvent
from llama_index_instrumentation.dispatcher import Dispatcher, active_instrument_tags
from pydantic import Field

from rlm_core import Event, TraceStep

dispatcher = get_dispatcher(__name__)

_STEP_SIGNATURE = inspect.Signature(
    [inspect.Parameter("step", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
)


class RLMStepEvent(BaseEvent):
    """A trace step started (``phase="start"``) or ended (``phase="end"``).

    ``span_id`` is the step's own span; ``parent_step_id`` links a sub-call to
    the REPL step that made it.
    """

    phase: Literal["start", "end"]
    run_id: str
    step_id: int
    parent_step_id: int | None = None
    kind: str
    depth: int = 0
    model: str | None = None
    code: str | None = None
    prompt: str | None = None
    response: str | None = None
    stdout: str | None = None
    error: str | None = None
    usage: dict[str, int] | None = None
    elapsed_s: float | None = None

    @classmethod
    def class_name(cls) -> str:
        return "RLMStepEvent"


class RLMRunEvent(BaseEvent):
    """A run-level event: run_start, run_end, run_error, guard, compaction or finalize."""

    type: str
    run_id: str
    depth: int = 0
    detail: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def class_name(cls) -> str:
        return "RLMRunEvent"


def _detail(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of an event's data (the trace object itself is left out)."""
    detail: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str | int | float | bool) or value is None:
            detail[key] = value
        elif isinstance(value, BaseException):
            detail[key] = f"{type(value).__name__}: {value}"
        elif isinstance(value, dict):
            detail[key] = {k: v for k, v in value.items() if isinstance(v, str | int | float)}
    return detail


def _step_event(phase: Literal["start", "end"], event: Event, step: TraceStep) -> RLMStepEvent:
    ended = phase == "end"
    return RLMStepEvent(
        phase=phase,
        run_id=event.run_id,
        step_id=step.step_id,
        parent_step_id=step.parent_id,
        kind=step.kind,
        depth=step.depth,
        model=step.model,
        code=step.code,
        prompt=step.prompt,
        response=step.response if ended else None,
        stdout=step.stdout if ended else None,
        error=step.error if ended else None,
        usage=step.usage.to_dict() if ended and step.usage is not None else None,
        elapsed_s=step.elapsed_s if ended else None,
    )


class _Open:
    __slots__ = ("bound", "previous", "span_id", "token")

    def __init__(
        self, span_id: str, bound: inspect.BoundArguments, previous: str | None, token: Token[Any]
    ) -> None:
        self.span_id = span_id
        self.bound = bound
        self.previous = previous
        self.token = token


class InstrumentationBridge:
    """An rlm-core event listener that turns one run's events into spans and events.

    Create it where the run starts (inside the query span): the span active
    then becomes the parent of the run's top-level steps.
    """

    def __init__(self, instance: Any = None, target: Dispatcher | None = None) -> None:
        self._instance = _weakly(instance)
        self.dispatcher = target or dispatcher
        self.root_span_id: str | None = active_span_id.get()
        self.span_ids: dict[int, str] = {}
        self._open: dict[int, _Open] = {}
        self._failed = False
        self._lock = threading.Lock()

    @property
    def instance(self) -> Any:
        """The engine or LLM whose run this is (``None`` once it is gone)."""
        return self._instance()

    def on_event(self, event: Event) -> None:
        step = event.step
        if event.type == "run_error":
            self._drop_open(event)
        if self._failed and step is not None:
            return  # a step the failed run left behind (e.g. a cancelled call still running)
        if event.type == "step_start" and step is not None:
            self._start(event, step)
        elif event.type == "step_end" and step is not None:
            self._end(event, step)
        elif event.type != "answer_delta":  # the LLM's own stream events carry that text
            self.dispatcher.event(
                RLMRunEvent(
                    type=event.type,
                    run_id=event.run_id,
                    depth=event.depth,
                    detail=_detail(event.data),
                    span_id=self.root_span_id,
                )
            )

    def _start(self, event: Event, step: TraceStep) -> None:
        span_id = f"RLMStep.{step.kind}-{uuid.uuid4()}"
        with self._lock:
            parent = self.span_ids.get(step.parent_id) if step.parent_id is not None else None
            self.span_ids[step.step_id] = span_id
        parent = parent or self.root_span_id
        bound = _STEP_SIGNATURE.bind(step)
        tags = {**active_instrument_tags.get(), "rlm.kind": step.kind, "rlm.step_id": step.step_id}
        self.dispatcher.span_enter(
            id_=span_id, bound_args=bound, instance=self.instance, parent_id=parent, tags=tags
        )
        # The work of this step runs in this context (or in copies made from it).
        previous = active_span_id.get()
        token = active_span_id.set(span_id)
        with self._lock:
            self._open[step.step_id] = _Open(span_id, bound, previous, token)
        starting = _step_event("start", event, step)
        starting.span_id = span_id
        self.dispatcher.event(starting)

    def _end(self, event: Event, step: TraceStep) -> None:
        with self._lock:
            opened = self._open.pop(step.step_id, None)
        if opened is None:
            return
        ending = _step_event("end", event, step)
        ending.span_id = opened.span_id
        self.dispatcher.event(ending)
        if step.error:
            self.dispatcher.span_drop(
                id_=opened.span_id,
                bound_args=opened.bound,
                instance=self.instance,
                err=RuntimeError(step.error),
            )
        else:
            self.dispatcher.span_exit(
                id_=opened.span_id,
                bound_args=opened.bound,
                instance=self.instance,
                result=step.response if step.response is not None else step.stdout,
            )
        self._restore(opened)

    def _drop_open(self, event: Event) -> None:
        """The run failed (or was cancelled): drop the spans of the steps it left running,
        innermost first, and take no more steps, so none ends later in another run's trace."""
        with self._lock:
            self._failed = True
            left = list(self._open.values())
            self._open.clear()
        error = event.data.get("error")
        if not isinstance(error, BaseException):
            error = RuntimeError(f"the run failed: {error}")
        for opened in reversed(left):
            self.dispatcher.span_drop(
                id_=opened.span_id, bound_args=opened.bound, instance=self.instance, err=error
            )
            self._restore(opened)

    @staticmethod
    def _restore(opened: _Open) -> None:
        """Make the previous span active again in the context that set this one.

        A sub-call may end in another context than it started in (the async
        path finishes it on the event loop); there the span was never set, so
        only a context that still shows this span is changed.
        """
        try:
            active_span_id.reset(opened.token)
        except ValueError:
            if active_span_id.get() == opened.span_id:
                active_span_id.set(opened.previous)


def _weakly(instance: Any) -> Callable[[], Any]:
    """A weak reference to ``instance`` where it allows one: a session's REPL outlives its
    turns and keeps the last turn's listeners, which must not keep their owner alive."""
    try:
        return weakref.ref(instance)
    except TypeError:  # None, or a type without weak references
        return lambda: instance
