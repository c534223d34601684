"""The core's events as LangChain custom events and as stream chunks."""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import RunnableConfig

from rlm_core import Event

logger = logging.getLogger("rlm_langchain")

EVENT_PREFIX = "rlm."
MAX_FIELD_CHARS = 2000
_STEP_TEXT_FIELDS = ("code", "stdout", "error", "prompt", "response")


def event_name(event: Event) -> str:
    """The custom-event name of a core event, e.g. ``rlm.step_start``."""
    return f"{EVENT_PREFIX}{event.type}"


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[:MAX_FIELD_CHARS] + f"... [{len(value) - MAX_FIELD_CHARS} more chars]"
    return value


def event_payload(event: Event) -> dict[str, Any]:
    """A JSON-friendly summary of ``event`` (long texts clipped, no Trace or exception objects)."""
    payload: dict[str, Any] = {
        "type": event.type,
        "run_id": event.run_id,
        "depth": event.depth,
        "kind": event.kind,
        "step_id": event.step_id,
        "parent_id": event.parent_id,
    }
    step = event.step
    if step is not None:
        summary: dict[str, Any] = {
            "kind": step.kind,
            "model": step.model,
            "elapsed_s": step.elapsed_s,
            "cache_hit": step.cache_hit,
            "usage": step.usage.to_dict() if step.usage is not None else None,
        }
        for name in _STEP_TEXT_FIELDS:
            summary[name] = _clip(getattr(step, name))
        payload["step"] = summary
    data: dict[str, Any] = {}
    for key, value in event.data.items():
        if key == "trace":
            continue
        if isinstance(value, BaseException):
            data[key] = f"{type(value).__name__}: {value}"
        else:
            data[key] = _clip(value)
    payload["data"] = data
    return payload


class RLMProgress(str):
    """A progress chunk of ``RLMRunnable.stream``: one core event, as an *empty* string.

    Being an empty ``str`` keeps streaming chains such as ``prompt | rlm |
    StrOutputParser()`` working (progress chunks add nothing to the text) while
    ``isinstance(chunk, RLMProgress)`` lets a UI show ``chunk.payload``.
    """

    event: Event
    payload: dict[str, Any]

    def __new__(cls, event: Event) -> RLMProgress:
        chunk = super().__new__(cls, "")
        chunk.event = event
        chunk.payload = event_payload(event)
        return chunk

    @property
    def type(self) -> str:
        """The core event type (``step_start``, ``step_end``, ``run_end``, ...)."""
        return self.event.type

    def __repr__(self) -> str:
        return (
            f"RLMProgress({self.event.type!r}, kind={self.event.kind!r}, "
            f"step_id={self.event.step_id!r})"
        )


def dispatch_event(event: Event, config: RunnableConfig) -> None:
    """Send ``event`` to the run's callbacks (sync); never lets observability break a run.

    ``answer_delta`` events are not sent: their text reaches callbacks as the
    answer's own stream (chat-model tokens, or the runnable's output chunks).
    """
    if event.type == "answer_delta":
        return
    try:
        dispatch_custom_event(event_name(event), event_payload(event), config=config)
    except Exception:
        logger.exception("dispatching %s failed; continuing", event_name(event))


async def adispatch_event(event: Event, config: RunnableConfig) -> None:
    """Async ``dispatch_event``."""
    if event.type == "answer_delta":
        return
    try:
        await adispatch_custom_event(event_name(event), event_payload(event), config=config)
    except Exception:
        logger.exception("dispatching %s failed; continuing", event_name(event))
