"""Scripted LlamaIndex LLMs, recorders and sample documents for the rlm-llamaindex tests."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.llms.mock import MockFunctionCallingLLM
from pydantic import Field

SUB_PREFIX = "You are a sub-LLM"


def is_sub_call(messages: Sequence[ChatMessage]) -> bool:
    return bool(messages) and str(messages[0].content or "").startswith(SUB_PREFIX)


def last_text(messages: Sequence[ChatMessage]) -> str:
    return str(messages[-1].content or "") if messages else ""


class Script:
    """Root replies in order; sub-call replies from a function of the sub prompt."""

    def __init__(self, root: Iterable[str], sub: Callable[[str], str] | str = "NOT FOUND") -> None:
        self.root: deque[str] = deque(root)
        self.sub = sub
        self.root_prompts: list[str] = []
        self.sub_prompts: list[str] = []
        self.sub_threads: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        with self._lock:
            if is_sub_call(messages):
                self.sub_prompts.append(last_text(messages))
                self.sub_threads.append(threading.current_thread().name)
                reply = self.sub(last_text(messages)) if callable(self.sub) else self.sub
            else:
                self.root_prompts.append(last_text(messages))
                if not self.root:
                    raise AssertionError("root script used up")
                reply = self.root.popleft()
        return ChatMessage(role=MessageRole.ASSISTANT, content=reply)


def scripted_llm(
    root: Iterable[str] = (), sub: Callable[[str], str] | str = "NOT FOUND"
) -> tuple[MockFunctionCallingLLM, Script]:
    """A real LlamaIndex LLM (``MockFunctionCallingLLM``) replying from a ``Script``."""
    script = Script(root, sub)
    return MockFunctionCallingLLM(response_generator=script, is_chat_model=True), script


def code(body: str) -> str:
    return f"```python\n{body}\n```"


class UsageLLM(MockFunctionCallingLLM):
    """Reports token usage the way the OpenAI integration does (``additional_kwargs``)."""

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        response = super().chat(messages, **kwargs)
        response.additional_kwargs = {"prompt_tokens": 11, "completion_tokens": 7}
        return response


class EventRecorder(BaseEventHandler):
    """Keeps every instrumentation event."""

    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "EventRecorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def of(self, name: str) -> list[Any]:
        return [event for event in self.events if event.class_name() == name]


DOCS = [
    "Alpha report. The orchard grows apples and pears along the river.",
    "Beta memo. The launch code for project Heron is 7319, kept in the vault.",
    "Gamma notes. Weather was mild; the team ate lunch by the lake every day.",
]
