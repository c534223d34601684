"""BaseChatModel's stream options hold for ChatRLM as for any LangChain chat model:
``rate_limiter``, ``output_version="v1"`` and ``disable_streaming``, in ``stream`` /
``astream`` and in ``invoke`` under a streaming callback (astream_events, LangGraph)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.rate_limiters import BaseRateLimiter
from langgraph.graph import MessagesState

from rlm_langchain import ChatRLM

from .conftest import (
    Recorder,
    chat_rlm_chunks,
    events_of_invoke,
    graph_of,
    scripted,
    streamed_texts,
)
from .test_streaming import ANSWER, _assert_tree, _chat
from .test_tools import LOOK, WEATHER_TEXT, _call, _final, get_weather


class CountingLimiter(BaseRateLimiter):
    """A rate limiter that never waits and counts how often it is asked."""

    def __init__(self) -> None:
        self.sync_calls = 0
        self.async_calls = 0

    def acquire(self, *, blocking: bool = True) -> bool:
        self.sync_calls += 1
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        self.async_calls += 1
        return True


def _reference(output_version: str | None = None, **kwargs: Any) -> GenericFakeChatModel:
    """LangChain's own streaming fake model, to compare ChatRLM's chunks with."""
    return GenericFakeChatModel(
        messages=itertools.cycle([AIMessage(content=ANSWER)]),
        output_version=output_version,
        **kwargs,
    )


def _messages_mode_parts(model: Any) -> list[tuple[BaseMessage, dict[str, Any]]]:
    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = graph_of(answer)
    return list(graph.stream({"messages": [HumanMessage("When?")]}, stream_mode="messages"))


# -- rate_limiter --------------------------------------------------------------------------
def test_every_call_takes_the_rate_limiter_once() -> None:
    limiter = CountingLimiter()
    chat = _chat(rate_limiter=limiter)
    assert chat.invoke("When?").text == ANSWER
    assert limiter.sync_calls == 1
    assert "".join(chunk.text for chunk in chat.stream("When?")) == ANSWER
    assert limiter.sync_calls == 2 and limiter.async_calls == 0


async def test_every_async_call_takes_the_rate_limiter_once() -> None:
    limiter = CountingLimiter()
    chat = _chat(rate_limiter=limiter)
    assert (await chat.ainvoke("When?")).text == ANSWER
    assert limiter.async_calls == 1
    chunks = [chunk async for chunk in chat.astream("When?")]
    assert "".join(chunk.text for chunk in chunks) == ANSWER
    assert limiter.async_calls == 2 and limiter.sync_calls == 0


# -- output_version="v1" -------------------------------------------------------------------
def _text_blocks(chunks: list[AIMessageChunk]) -> list[dict[str, Any]]:
    return [block for chunk in chunks for block in chunk.content if isinstance(block, dict)]


def test_v1_stream_chunks_are_content_blocks_like_langchains() -> None:
    chunks = list(_chat(output_version="v1").stream("When?"))
    assert all(isinstance(chunk.content, list) for chunk in chunks)
    blocks = _text_blocks(chunks)
    assert len(blocks) > 1 and "".join(block["text"] for block in blocks) == ANSWER
    (reference_first, *_) = list(_reference("v1").stream("When?"))
    assert isinstance(reference_first.content, list)
    assert {tuple(sorted(block)) for block in blocks} == {tuple(sorted(reference_first.content[0]))}
    assert {(block["type"], block["index"]) for block in blocks} == {("text", 0)}
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.content == [{"type": "text", "text": ANSWER, "index": 0}]
    assert len({chunk.id for chunk in chunks}) == 1


async def test_v1_astream_chunks_are_content_blocks() -> None:
    chunks = [chunk async for chunk in _chat(output_version="v1").astream("When?")]
    assert all(isinstance(chunk.content, list) for chunk in chunks)
    blocks = _text_blocks(chunks)
    assert len(blocks) > 1 and "".join(block["text"] for block in blocks) == ANSWER


async def test_v1_tokens_of_invoke_under_astream_events_are_content_blocks() -> None:
    events = await events_of_invoke(_chat(output_version="v1"), lambda reply: reply.content)
    tokens = [chunk.content for chunk in chat_rlm_chunks(events)]
    assert tokens and all(isinstance(token, list) for token in tokens)
    texts = [block["text"] for token in tokens for block in token]
    assert "".join(texts) == ANSWER and len(texts) > 1
    (end,) = [e for e in events if e["event"] == "on_chain_end" and e["name"] == "node"]
    assert end["data"]["output"] == [{"type": "text", "text": ANSWER}]


# -- disable_streaming ---------------------------------------------------------------------
def test_disable_streaming_gives_one_chunk_and_keeps_the_tree(recorder: Recorder) -> None:
    chat = _chat(disable_streaming=True)
    (only,) = list(chat.stream("When was the moon landing?", config={"callbacks": [recorder]}))
    assert only.text == ANSWER
    (reference_only,) = list(_reference(disable_streaming=True).stream("When?"))
    assert type(only) is type(reference_only)
    _assert_tree(recorder)


async def test_disable_streaming_gives_one_async_chunk() -> None:
    chat = _chat(disable_streaming=True)
    (only,) = [chunk async for chunk in chat.astream("When?")]
    assert only.text == ANSWER


def test_disable_streaming_gives_one_message_in_langgraph_messages_mode() -> None:
    assert len(streamed_texts(_messages_mode_parts(_chat()))) > 1  # the control: tokens
    parts = _messages_mode_parts(_chat(disable_streaming=True))
    assert streamed_texts(parts) == [ANSWER]
    assert len(_messages_mode_parts(_reference(disable_streaming=True))) == len(parts) == 1


async def test_disable_streaming_gives_one_message_in_async_langgraph_messages_mode() -> None:
    chat = _chat(disable_streaming=True)

    async def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await chat.ainvoke(state["messages"])]}

    graph = graph_of(answer)
    parts = [
        part
        async for part in graph.astream(
            {"messages": [HumanMessage("When?")]}, stream_mode="messages"
        )
    ]
    assert streamed_texts(parts) == [ANSWER]


async def test_disable_streaming_sends_no_tokens_from_invoke_under_astream_events() -> None:
    events = await events_of_invoke(_chat(disable_streaming=True), lambda reply: reply.text)
    own = [e for e in events if e["name"] == "ChatRLM"]
    assert not [e for e in own if e["event"] == "on_chat_model_stream"]
    (end,) = [e for e in own if e["event"] == "on_chat_model_end"]
    assert end["data"]["output"].text == ANSWER
    custom = [e["name"] for e in events if e["event"] == "on_custom_event"]
    assert custom[0] == "rlm.run_start" and custom[-1] == "rlm.run_end"


@pytest.mark.parametrize("with_tools", [False, True])
def test_disable_streaming_tool_calling_stops_streaming_only_with_tools(with_tools: bool) -> None:
    if not with_tools:
        chunks = list(_chat(disable_streaming="tool_calling").stream("When?"))
        assert len([chunk for chunk in chunks if chunk.text]) > 1
        return
    root = scripted(LOOK, _final({"tool_calls": [_call("get_weather", city="Paris")]}))
    chat = ChatRLM(llm=root, context=WEATHER_TEXT, disable_streaming="tool_calling")
    (only,) = list(chat.bind_tools([get_weather]).stream("Weather in Paris?"))
    assert isinstance(only, AIMessage) and not isinstance(only, AIMessageChunk)  # from invoke
    assert [(call["name"], call["args"]) for call in only.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
