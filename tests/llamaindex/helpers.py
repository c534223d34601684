"""Scripted LlamaIndex LLMs, recorders and sample documents for the rlm-llamaindex tests."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
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
        self.root_systems: list[str] = []
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
                self.root_systems.append(str(messages[0].content or ""))
                if not self.root:
                    raise AssertionError("root script used up")
                reply = self.root.popleft()
        return ChatMessage(role=MessageRole.ASSISTANT, content=reply)


def words(text: str) -> list[str]:
    """``text`` cut after each space, so the pieces join back to exactly ``text``."""
    pieces = text.split(" ")
    return [piece + " " for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


class ScriptedLLM(MockFunctionCallingLLM):
    """A ``MockFunctionCallingLLM`` that streams its reply word by word like a provider:
    cumulative ``message``, one word per ``delta``, and (with ``usage``) the token usage
    in ``raw`` of the complete reply or of the last chunk, as the OpenAI integration does."""

    usage: dict[str, int] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    calls_kwargs: list[dict[str, Any]] = Field(default_factory=list)

    def _reply(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> str:
        self.calls_kwargs.append(dict(kwargs))
        message = self._get_response_generator()(messages, **kwargs)
        assert isinstance(message, ChatMessage)
        return str(message.content or "")

    def _raw(self) -> dict[str, Any]:
        return {"usage": dict(self.usage)} if self.usage else {}

    def _chunks(self, text: str) -> Generator[ChatResponse, None, None]:
        pieces = words(text) or [""]
        so_far = ""
        for number, piece in enumerate(pieces, start=1):
            so_far += piece
            last = number == len(pieces)
            yield ChatResponse(
                message=ChatMessage(role=MessageRole.ASSISTANT, content=so_far),
                delta=piece,
                raw=self._raw() if last else {},
            )

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._reply(messages, kwargs)
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw=self._raw()
        )

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._reply(messages, kwargs)
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw=self._raw()
        )

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._chunks(self._reply(messages, kwargs))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        chunks = list(self._chunks(self._reply(messages, kwargs)))

        async def generate() -> AsyncGenerator[ChatResponse, None]:
            for chunk in chunks:
                yield chunk

        return generate()


def scripted_llm(
    root: Iterable[str] = (),
    sub: Callable[[str], str] | str = "NOT FOUND",
    **llm_fields: Any,
) -> tuple[ScriptedLLM, Script]:
    """A real LlamaIndex LLM (``MockFunctionCallingLLM``) replying from a ``Script``."""
    script = Script(root, sub)
    return ScriptedLLM(response_generator=script, is_chat_model=True, **llm_fields), script


def code(body: str) -> str:
    return f"```python\n{body}\n```"


def usage_llm(
    root: Iterable[str] = (), sub: Callable[[str], str] | str = "NOT FOUND", **llm_fields: Any
) -> tuple[ScriptedLLM, Script]:
    """A scripted LLM reporting 11 prompt and 7 completion tokens per call."""
    usage = {"prompt_tokens": 11, "completion_tokens": 7}
    return scripted_llm(root, sub, usage=usage, **llm_fields)


class CompletionLLM(CustomLLM):
    """A completion model (``is_chat_model`` false, like ``MockLLM``): root replies from
    ``root`` in order, ``sub`` for sub-calls (prompts that open with the sub-LLM system
    message), 11 prompt and 7 completion tokens reported per call; keeps every prompt."""

    root: list[str] = Field(default_factory=list)
    sub: str = "NOT FOUND"
    prompts: list[str] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="completion", is_chat_model=False)

    def _reply(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.sub if SUB_PREFIX in prompt[:200] else self.root.pop(0)

    @staticmethod
    def _raw() -> dict[str, Any]:
        return {"usage": {"prompt_tokens": 11, "completion_tokens": 7}}

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._reply(prompt), raw=self._raw())

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        pieces = words(self._reply(prompt)) or [""]

        def generate() -> CompletionResponseGen:
            so_far = ""
            for number, piece in enumerate(pieces, start=1):
                so_far += piece
                raw = self._raw() if number == len(pieces) else {}
                yield CompletionResponse(text=so_far, delta=piece, raw=raw)

        return generate()


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
