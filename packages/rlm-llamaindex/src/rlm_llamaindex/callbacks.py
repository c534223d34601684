"""The core's REPL steps as legacy LlamaIndex ``CallbackManager`` events.

Only what LlamaIndex itself cannot see is reported: each REPL execution becomes a
``CBEventType.FUNCTION_CALL`` event. Model calls are left to the LLM, whose own
``LLM`` events (with the provider's token usage) reach its callback manager; adding
more would make handlers such as ``TokenCountingHandler`` count them twice.

While an execution runs, its event is on top of LlamaIndex's trace stack, so the
LLM events of the sub-calls it makes (and any ``RETRIEVE`` events of ``es_search``)
nest under it; top-level steps nest under the engine's ``QUERY`` event.
"""

from __future__ import annotations

import threading
from typing import Any

from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload

from rlm_core import Event, TraceStep

_EXEC_KINDS = ("repl_exec", "sub_repl_exec")


class CallbackBridge:
    """An rlm-core event listener that reports one run's REPL steps to a ``CallbackManager``."""

    def __init__(self, manager: CallbackManager, parent_id: str | None = None) -> None:
        self.manager = manager
        self.parent_id = parent_id
        self.event_ids: dict[int, str] = {}
        self._parents: dict[int, str | None] = {}  # each step's nearest enclosing event
        self._running: dict[int, str] = {}  # events started and not ended yet
        self._failed = False
        self._lock = threading.Lock()

    def _enclosing(self, step: TraceStep) -> str | None:
        if step.parent_id is None:
            return self.parent_id
        return self.event_ids.get(step.parent_id) or self._parents.get(step.parent_id)

    def on_event(self, event: Event) -> None:
        step = event.step
        if event.type == "run_error":
            self._end_running(event.data.get("error"))
        if step is None or self._failed:
            return
        if event.type == "step_start":
            with self._lock:
                parent = self._enclosing(step)
                self._parents[step.step_id] = parent
                if step.kind not in _EXEC_KINDS:
                    return
                event_id = f"rlm-{event.run_id}-{step.step_id}"
                self.event_ids[step.step_id] = event_id
                self._running[step.step_id] = event_id
            self.manager.on_event_start(
                CBEventType.FUNCTION_CALL,
                payload={EventPayload.FUNCTION_CALL: step.code},
                event_id=event_id,
                parent_id=parent,
            )
        elif event.type == "step_end" and step.kind in _EXEC_KINDS:
            with self._lock:
                known = self._running.pop(step.step_id, None)
            if known is None:
                return
            ended: dict[str, Any] = {EventPayload.FUNCTION_OUTPUT: step.stdout}
            if step.error:
                ended[EventPayload.EXCEPTION] = RuntimeError(step.error)
            self.manager.on_event_end(CBEventType.FUNCTION_CALL, payload=ended, event_id=known)

    def _end_running(self, error: Any) -> None:
        """The run failed (or was cancelled): end the events of the steps it left running,
        with the error, and report no later step of it."""
        with self._lock:
            self._failed = True
            running = list(self._running.values())
            self._running.clear()
        if not isinstance(error, BaseException):
            error = RuntimeError(f"the run failed: {error}")
        for event_id in reversed(running):
            self.manager.on_event_end(
                CBEventType.FUNCTION_CALL,
                payload={EventPayload.EXCEPTION: error},
                event_id=event_id,
            )
