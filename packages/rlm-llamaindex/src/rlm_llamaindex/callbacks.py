"""The core's event stream as legacy LlamaIndex ``CallbackManager`` events.

Model calls (root and sub) become ``CBEventType.LLM`` events and REPL
executions ``CBEventType.FUNCTION_CALL`` events, parented like the trace: a
sub-call under the REPL exec that made it, top-level steps under the query.
"""

from __future__ import annotations

import threading
from typing import Any

from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload

from rlm_core.events import Event
from rlm_core.trace import TraceStep

_EXEC_KINDS = ("repl_exec", "sub_repl_exec")


def _type_of(step: TraceStep) -> CBEventType:
    return CBEventType.FUNCTION_CALL if step.kind in _EXEC_KINDS else CBEventType.LLM


class CallbackBridge:
    """An rlm-core event listener that reports one run's steps to a ``CallbackManager``."""

    def __init__(self, manager: CallbackManager, parent_id: str | None = None) -> None:
        self.manager = manager
        self.parent_id = parent_id
        self.event_ids: dict[int, str] = {}
        self._lock = threading.Lock()

    def on_event(self, event: Event) -> None:
        step = event.step
        if step is None:
            return
        if event.type == "step_start":
            with self._lock:
                parent = self.event_ids.get(step.parent_id) if step.parent_id else None
                event_id = f"rlm-{event.run_id}-{step.step_id}"
                self.event_ids[step.step_id] = event_id
            payload: dict[str, Any]
            if step.kind in _EXEC_KINDS:
                payload = {EventPayload.FUNCTION_CALL: step.code}
            else:
                payload = {EventPayload.PROMPT: step.prompt, "model": step.model, "kind": step.kind}
            self.manager.on_event_start(
                _type_of(step),
                payload=payload,
                event_id=event_id,
                parent_id=parent or self.parent_id,
            )
        elif event.type == "step_end":
            with self._lock:
                known = self.event_ids.get(step.step_id)
            if known is None:
                return
            event_id = known
            ended: dict[str, Any]
            if step.kind in _EXEC_KINDS:
                ended = {EventPayload.FUNCTION_OUTPUT: step.stdout}
            else:
                ended = {
                    EventPayload.COMPLETION: step.response,
                    "usage": step.usage.to_dict() if step.usage else None,
                }
            if step.error:
                ended[EventPayload.EXCEPTION] = RuntimeError(step.error)
            self.manager.on_event_end(_type_of(step), payload=ended, event_id=event_id)
