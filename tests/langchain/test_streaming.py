"""Streaming keeps the run tree: stream, astream, astream_events v2 and LangGraph's messages mode.

Every inner model / retriever run descends from the ChatRLM (or RLMRunnable) run, the
``rlm.*`` custom events are sent, only the answer is streamed as the chat model's chunks,
and the inner model runs are tagged ``nostream`` so LangGraph does not stream them.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGenerationChunk
from langgraph.graph import MessagesState

from rlm_langchain import ChatRLM, RLMRunnable

from .conftest import (
    DOCS,
    KeywordRetriever,
    Recorder,
    chat_rlm_chunks,
    events_of_invoke,
    fenced,
    graph_of,
    streamed_texts,
)

ANSWER = "It happened in 1969."
ROOT_CODE = fenced(
    "hits = es_search('moon landing')\nprint(llm_query('year? ' + hits[0]['preview']))"
)


def _streaming(*replies: str) -> GenericFakeChatModel:
    """A fake chat model that streams its replies word by word (cycling)."""
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage(content=r) for r in replies]))


def _chat(**kwargs: Any) -> ChatRLM:
    return ChatRLM(
        llm=_streaming(ROOT_CODE, f"FINAL: {ANSWER}"),
        sub_llm=_streaming("The year was 1969."),
        retriever=KeywordRetriever(documents=DOCS),
        **kwargs,
    )


def _runnable() -> RLMRunnable:
    return RLMRunnable(
        llm=_streaming(ROOT_CODE, f"FINAL: {ANSWER}"),
        sub_llm=_streaming("The year was 1969."),
        retriever=KeywordRetriever(documents=DOCS),
    )


def _assert_tree(recorder: Recorder) -> None:
    (top,) = [run for run in recorder.runs if run.parent_run_id is None]
    assert top.kind == "chat"
    inner = [run for run in recorder.runs if run is not top]
    kinds = sorted(run.kind for run in inner)
    assert kinds == ["chat", "chat", "chat", "retriever"]  # two root steps, a sub-call, a search
    assert all(run.parent_run_id == top.run_id for run in inner)
    names = [name for name, _, _ in recorder.custom]
    assert names[0] == "rlm.run_start" and names[-1] == "rlm.run_end"
    assert {run_id for _, _, run_id in recorder.custom} == {top.run_id}


def test_stream_keeps_the_tree_and_streams_only_the_answer(recorder: Recorder) -> None:
    chunks = list(_chat().stream("When was the moon landing?", config={"callbacks": [recorder]}))
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks) == ANSWER
    _assert_tree(recorder)


async def test_astream_keeps_the_tree_and_streams_only_the_answer(recorder: Recorder) -> None:
    chat = _chat()
    chunks = [c async for c in chat.astream("When?", config={"callbacks": [recorder]})]
    assert "".join(chunk.text for chunk in chunks) == ANSWER
    _assert_tree(recorder)


async def test_ainvoke_keeps_the_tree(recorder: Recorder) -> None:
    reply = await _chat().ainvoke("When?", config={"callbacks": [recorder]})
    assert reply.text == ANSWER
    _assert_tree(recorder)


async def test_astream_events_v2() -> None:
    events = [event async for event in _chat().astream_events("When?", version="v2")]
    (start,) = [e for e in events if e["event"] == "on_chat_model_start" and not e["parent_ids"]]
    chat_id = start["run_id"]
    inner_starts = [e for e in events if e["event"].endswith("_start") and e["run_id"] != chat_id]
    assert len(inner_starts) == 4
    assert all(e["parent_ids"] == [chat_id] for e in inner_starts)
    inner_chats = [e for e in inner_starts if e["event"] == "on_chat_model_start"]
    assert all("nostream" in e["tags"] for e in inner_chats)
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert custom[0]["name"] == "rlm.run_start" and custom[-1]["name"] == "rlm.run_end"
    assert all(e["run_id"] == chat_id for e in custom)
    own_tokens = [
        e["data"]["chunk"].text
        for e in events
        if e["event"] == "on_chat_model_stream" and e["run_id"] == chat_id
    ]
    assert "".join(own_tokens) == ANSWER
    (end,) = [e for e in events if e["event"] == "on_chat_model_end" and e["run_id"] == chat_id]
    assert end["data"]["output"].text == ANSWER


def test_langgraph_messages_mode_streams_only_the_chat_rlm_answer(recorder: Recorder) -> None:
    chat = _chat()

    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [chat.invoke(state["messages"])]}

    graph = graph_of(answer)
    parts = list(
        graph.stream(
            {"messages": [HumanMessage("When was the moon landing?")]},
            stream_mode="messages",
            config={"callbacks": [recorder]},
        )
    )
    texts = streamed_texts(parts)
    assert "".join(texts) == ANSWER and len(texts) > 1  # token by token, code never shown
    (chat_run,) = [run for run in recorder.of("chat") if run.name == "ChatRLM"]
    inner = [run for run in recorder.runs if run.parent_run_id == chat_run.run_id]
    assert len(inner) == 4


async def test_langgraph_async_messages_mode_streams_only_the_answer() -> None:
    chat = _chat()

    async def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await chat.ainvoke(state["messages"])]}

    graph = graph_of(answer)
    parts = [
        part
        async for part in graph.astream(
            {"messages": [HumanMessage("When?")]}, stream_mode="messages"
        )
    ]
    texts = streamed_texts(parts)
    assert "".join(texts) == ANSWER and len(texts) > 1


def test_langgraph_messages_mode_hides_an_rlm_runnable_nodes_inner_models() -> None:
    rlm = _runnable()

    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [AIMessage(rlm.invoke(state["messages"][-1].text))]}

    parts = list(
        graph_of(answer).stream({"messages": [HumanMessage("When?")]}, stream_mode="messages")
    )
    assert streamed_texts(parts) == [ANSWER]


def test_without_nostream_langgraph_would_stream_inner_tokens() -> None:
    """The control: a plain streaming model in a node does show up token by token."""
    model = _streaming("one two three")

    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    parts = list(graph_of(answer).stream({"messages": [HumanMessage("q")]}, stream_mode="messages"))
    assert len(streamed_texts(parts)) > 1


class _GatedRoot(GenericFakeChatModel):
    """Streams the start of its answer reply, then waits until the user has seen a token
    of it (``gate``) before writing the rest; ``waited_in_vain`` says if that never came."""

    gate: Any
    waited_in_vain: bool = False

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        chunks = list(super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        text = "".join(chunk.message.text for chunk in chunks)
        if not text.startswith("FINAL:"):
            yield from chunks
            return
        head, tail = text[: -len(" 1969.")], " 1969."
        yield ChatGenerationChunk(message=AIMessageChunk(content=head))
        self.waited_in_vain = not self.gate.wait(timeout=10)
        yield ChatGenerationChunk(message=AIMessageChunk(content=tail))


def test_answer_tokens_arrive_while_the_root_call_writes_them() -> None:
    """The user sees answer tokens before the root call that writes them has finished."""
    gate = threading.Event()
    root = _GatedRoot(
        messages=itertools.cycle([AIMessage(content=ROOT_CODE), AIMessage(f"FINAL: {ANSWER}")]),
        gate=gate,
    )
    chat = ChatRLM(
        llm=root,
        sub_llm=_streaming("The year was 1969."),
        retriever=KeywordRetriever(documents=DOCS),
    )
    texts = []
    for chunk in chat.stream("When?"):
        if chunk.text:
            texts.append(chunk.text)
            gate.set()
    assert "".join(texts) == ANSWER and len(texts) > 1
    assert not root.waited_in_vain


def test_code_and_final_var_replies_are_never_streamed() -> None:
    chat = ChatRLM(
        llm=_streaming(fenced("x = 'secret plan'\nprint(x)"), "FINAL_VAR: x"),
        context="some text",
    )
    chunks = list(chat.stream("What is x?"))
    texts = [chunk.text for chunk in chunks if chunk.text]
    assert texts == ["secret plan"]  # the variable's value arrives whole, at the end


def test_stop_sequences_turn_live_streaming_off() -> None:
    chunks = list(_chat().stream("When?", stop=[" in"]))
    assert [chunk.text for chunk in chunks if chunk.text] == ["It happened"]


async def test_invoke_under_astream_events_streams_answer_tokens() -> None:
    """LangChain's hidden streaming path (a streaming callback on ``invoke``)."""
    events = await events_of_invoke(_chat(), lambda reply: reply.text)
    tokens = [chunk.text for chunk in chat_rlm_chunks(events)]
    tokens = [token for token in tokens if token]
    assert "".join(tokens) == ANSWER and len(tokens) > 1


def test_rlm_runnable_streams_answer_text_pieces() -> None:
    rlm = _runnable()
    texts = [chunk for chunk in rlm.stream("When?") if chunk]
    assert "".join(texts) == ANSWER and len(texts) > 1
    assert rlm.invoke("When?") == ANSWER


def test_invoke_returns_the_runs_answer_when_it_differs_from_the_streamed_start() -> None:
    """Prose streamed before code turns up: the reply's text is still the run's answer."""
    root = _streaming(
        "FINAL: The code might be 1234 but let me check.\n" + fenced("FINAL('4711')"),
    )
    chat = ChatRLM(llm=root, context="The vault code is 4711.")
    assert chat.invoke("What is the code?").text == "4711"
    chunks = list(chat.stream("What is the code?"))
    assert "".join(chunk.text for chunk in chunks).endswith("\n4711")  # the answer, whole
    rlm = RLMRunnable(llm=root, context="The vault code is 4711.")
    import asyncio

    assert asyncio.run(rlm.ainvoke("What is the code?")) == "4711"
