"""No call runs past its token cap, whatever the chat model honours.

The cap is bound through the model's own limit field and enforced by the adapter:
it stops reading the stream once the reply passes the cap, and closes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from rlm_langchain import ChatModelAdapter, ChatRLM

from .conftest import CONTEXT, fenced

MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


class RunawayModel(BaseChatModel):
    """Declares ``max_tokens`` but ignores it, like a server that ignores the parameter.

    Streams ``words`` words, one per chunk, and records what it was asked and how far
    the consumer read.
    """

    max_tokens: int | None = None
    words: int = 500
    seen_kwargs: list[dict[str, Any]] = Field(default_factory=list)
    produced: int = 0
    closed_early: bool = False

    @property
    def _llm_type(self) -> str:
        return "runaway"

    def _generate(self, messages: list[BaseMessage], *a: Any, **kw: Any) -> ChatResult:
        text = " ".join(f"w{i}" for i in range(self.words))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _chunks(self, kwargs: dict[str, Any]) -> Iterator[ChatGenerationChunk]:
        self.seen_kwargs.append(dict(kwargs))
        finished = False
        try:
            for i in range(self.words):
                self.produced += 1
                yield ChatGenerationChunk(message=AIMessageChunk(content=f"w{i} "))
            finished = True
        finally:
            self.closed_early = not finished

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from self._chunks(kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        chunks = self._chunks(kwargs)
        try:
            for chunk in chunks:
                yield chunk
        finally:
            chunks.close()


class WholeReplyModel(BaseChatModel):
    """Does not stream: returns its whole (too long) reply at once."""

    @property
    def _llm_type(self) -> str:
        return "whole"

    def _generate(self, messages: list[BaseMessage], *a: Any, **kw: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="x" * 3000))])


def test_the_cap_is_bound_and_enforced_when_the_model_ignores_it() -> None:
    model = RunawayModel()
    response = ChatModelAdapter(model).complete(MESSAGES, max_tokens=8)
    assert model.seen_kwargs == [{"max_tokens": 8}]
    assert model.produced == 9  # read one past the cap, then stopped
    assert model.closed_early
    assert response.text.split() == [f"w{i}" for i in range(8)]
    assert response.usage.completion_tokens == 8


async def test_the_async_path_stops_at_the_cap_too() -> None:
    model = RunawayModel()
    response = await ChatModelAdapter(model).acomplete(MESSAGES, max_tokens=5)
    assert model.seen_kwargs == [{"max_tokens": 5}]
    assert model.produced == 6  # nothing more was pulled from the model after the cap
    # LangChain's astream does not close the model's own stream itself; the event loop's
    # async-generator finalizer does, a few loop iterations after the adapter let go of it.
    for _ in range(50):
        if model.closed_early:
            break
        await asyncio.sleep(0)
    assert model.closed_early
    assert len(response.text.split()) == 5


def test_a_reply_within_the_cap_is_read_to_the_end() -> None:
    model = RunawayModel(words=4)
    response = ChatModelAdapter(model).complete(MESSAGES, max_tokens=8)
    assert not model.closed_early
    assert response.text.split() == ["w0", "w1", "w2", "w3"]


def test_num_predict_is_bound_for_models_that_only_have_it() -> None:
    class OnlyNumPredict(BaseChatModel):
        num_predict: int | None = None
        seen: list[dict[str, Any]] = Field(default_factory=list)

        @property
        def _llm_type(self) -> str:
            return "only-num-predict"

        def _generate(self, messages: list[BaseMessage], *a: Any, **kw: Any) -> ChatResult:
            self.seen.append(kw)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content="ok"))])

    model = OnlyNumPredict()
    adapter = ChatModelAdapter(model)
    assert adapter.cap_parameter == "num_predict"
    assert adapter.complete(MESSAGES, max_tokens=12).text == "ok"
    assert [call.get("num_predict") for call in model.seen] == [12]


def test_a_whole_reply_is_cut_at_the_cap() -> None:
    response = ChatModelAdapter(WholeReplyModel()).complete(MESSAGES, max_tokens=10)
    assert len(response.text) == 30
    assert response.usage.completion_tokens == 10


def test_root_steps_of_a_chat_rlm_never_receive_more_than_max_tokens() -> None:
    """The root model ignores its cap and rambles on after its code: it is cut at the cap."""

    class RamblingRoot(RunawayModel):
        step: int = 0

        def _chunks(self, kwargs: dict[str, Any]) -> Iterator[ChatGenerationChunk]:
            self.seen_kwargs.append(dict(kwargs))
            self.step += 1
            if self.step == 2:
                yield ChatGenerationChunk(message=AIMessageChunk(content="FINAL: 4711"))
                return
            code = fenced("print(grep('vault code', window=10))")
            yield ChatGenerationChunk(message=AIMessageChunk(content=code))
            for i in range(self.words):
                self.produced += 1
                yield ChatGenerationChunk(message=AIMessageChunk(content=f" and{i}"))

    root = RamblingRoot()
    chat = ChatRLM(llm=root, context=CONTEXT, max_tokens=40)
    assert chat.invoke("code?").text == "4711"
    assert [kwargs["max_tokens"] for kwargs in root.seen_kwargs] == [40, 40]
    assert root.produced < 40
