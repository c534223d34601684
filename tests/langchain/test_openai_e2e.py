"""ChatRLM and RLMRunnable driving the real ``ChatOpenAI`` against a loopback server.

The field report of issue 14, replayed end to end: ``ChatOpenAI`` talks to an
OpenAI-compatible server on 127.0.0.1 that streams token by token and, like a
llama.cpp server, can ignore ``max_completion_tokens``. In a one-node LangGraph graph
streamed with ``stream_mode="messages"`` the user must see the answer only, the
query must reach the root model as the last human message's text, and a root reply
the server generates without bound must be cut at ``max_tokens``, the client
closing the stream so that the server stops generating.
"""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_openai import ChatOpenAI
from langgraph.graph import MessagesState

from rlm_langchain import ChatRLM, RLMRunnable
from rlm_langchain.adapter import ChatModelAdapter

from .conftest import CONTEXT, fenced, graph_of, streamed_texts
from tests.core.openai_server import (
    CAP_SLACK,
    TOKEN_DELAY,
    Delay,
    OpenAIServer,
    RecordedRequest,
    Reply,
    runaway,
)

QUESTION = "What is the vault code?"
ANSWER = "The vault code is 4711."
ROOT_CODE = fenced(
    "hit = grep('vault code', window=10)\nprint(llm_query('Which code is named here? ' + str(hit)))"
)
SUB_REPLY = "The text names the code 4711."


def chat_openai(openai_server: OpenAIServer) -> ChatOpenAI:
    """``ChatOpenAI`` as a user points it at a local server (default retries and timeout)."""
    return ChatOpenAI(base_url=openai_server.base_url, api_key="x", model="local-model")  # type: ignore[arg-type]


def script_a_run(openai_server: OpenAIServer) -> None:
    """Root writes code that makes one sub-call, then answers; all streamed token by token."""
    openai_server.enqueue(
        Reply(ROOT_CODE, token_delay=TOKEN_DELAY),
        Reply(SUB_REPLY, token_delay=TOKEN_DELAY),
        Reply(f"FINAL: {ANSWER}", token_delay=TOKEN_DELAY),
    )


def contents(request: RecordedRequest, role: str) -> list[str]:
    return [m["content"] for m in request.body["messages"] if m["role"] == role]


PROMPT = ChatPromptTemplate.from_messages(
    [("system", "Be brief."), MessagesPlaceholder("messages")]
)


def test_langgraph_messages_mode_streams_only_the_answer_token_by_token(
    openai_server: OpenAIServer,
) -> None:
    script_a_run(openai_server)
    chain = PROMPT | ChatRLM(llm=chat_openai(openai_server), context=CONTEXT)

    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [chain.invoke({"messages": state["messages"]})]}

    parts = list(
        graph_of(answer).stream({"messages": [HumanMessage(QUESTION)]}, stream_mode="messages")
    )

    texts = streamed_texts(parts)
    assert "".join(texts) == ANSWER
    assert len(texts) > 2  # token by token, as the root model wrote it
    leaked = [t for t in texts if any(s in t for s in ("```", "grep", "llm_query", "names"))]
    assert leaked == []
    assert all(meta["langgraph_node"] == "answer" for _, meta in parts)
    # Every model call went to the server as a stream: root, sub-call, root.
    requests = openai_server.requests
    assert len(requests) == 3 and all(r.wants_stream for r in requests)
    assert [s.outcome for s in openai_server.streams] == ["complete"] * 3


def test_the_query_reaches_the_root_as_the_last_human_message(openai_server: OpenAIServer) -> None:
    script_a_run(openai_server)
    chain = PROMPT | ChatRLM(llm=chat_openai(openai_server), context=CONTEXT)

    reply = chain.invoke({"messages": [HumanMessage(QUESTION)]})

    assert reply.text == ANSWER
    first_root = openai_server.requests[0]
    (system,) = contents(first_root, "system")
    users = contents(first_root, "user")
    assert "Be brief." in system  # system text goes to the system message
    assert any(QUESTION in text for text in users)
    transcript = [t for t in [system, *users] if "Human:" in t or "System: Be brief" in t]
    assert transcript == []
    assert not any("Be brief." in text for text in users)
    # The sub-call is a plain question: no conversation system text, no root prompt.
    sub_call = openai_server.requests[1]
    assert all("Be brief." not in m["content"] for m in sub_call.body["messages"])


def test_a_root_reply_the_server_does_not_stop_is_cut_at_max_tokens(
    openai_server: OpenAIServer,
) -> None:
    """The server ignores ``max_completion_tokens`` and would write 2000 tokens; the client
    reads a few past the cap of 8, closes the stream, and the server stops generating."""
    openai_server.enqueue(runaway(2000), Reply("FINAL: 4711", token_delay=TOKEN_DELAY))
    chat = ChatRLM(llm=chat_openai(openai_server), context=CONTEXT, max_tokens=8)

    assert chat.invoke(QUESTION).text == "4711"

    first = openai_server.streams[0]
    assert openai_server.wait_until(lambda _: first.ended)
    assert first.request.body["max_completion_tokens"] == 8  # what ChatOpenAI sends
    assert first.planned == 2000
    assert first.client_closed
    assert 8 <= first.sent <= 8 + 1 + CAP_SLACK
    assert openai_server.streams[1].outcome == "complete"
    assert len(openai_server.requests) == 2  # nothing retried
    assert openai_server.wait_until(lambda s: s.open_connections <= 1)


async def test_the_async_path_cuts_the_runaway_reply_too(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(runaway(2000), Reply("FINAL: 4711", token_delay=TOKEN_DELAY))
    chat = ChatRLM(llm=chat_openai(openai_server), context=CONTEXT, max_tokens=8)

    assert (await chat.ainvoke(QUESTION)).text == "4711"

    first = openai_server.streams[0]  # wait with the event loop free to close the stream
    assert await asyncio.to_thread(openai_server.wait_until, lambda _: first.ended)
    assert first.client_closed
    assert 8 <= first.sent <= 8 + 1 + CAP_SLACK
    assert len(openai_server.requests) == 2


async def test_async_langgraph_messages_mode_streams_only_the_answer(
    openai_server: OpenAIServer,
) -> None:
    script_a_run(openai_server)
    chat = ChatRLM(llm=chat_openai(openai_server), context=CONTEXT)

    async def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await chat.ainvoke(state["messages"])]}

    parts = [
        part
        async for part in graph_of(answer).astream(
            {"messages": [HumanMessage(QUESTION)]}, stream_mode="messages"
        )
    ]
    texts = streamed_texts(parts)
    assert "".join(texts) == ANSWER and len(texts) > 2


def test_an_rlm_runnable_node_does_not_leak_inner_tokens(openai_server: OpenAIServer) -> None:
    script_a_run(openai_server)
    rlm = RLMRunnable(llm=chat_openai(openai_server), context=CONTEXT)

    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [AIMessage(rlm.invoke(state["messages"][-1].text))]}

    parts = list(
        graph_of(answer).stream({"messages": [HumanMessage(QUESTION)]}, stream_mode="messages")
    )

    assert streamed_texts(parts) == [ANSWER]  # the node's answer, no token of its model calls
    assert len(openai_server.requests) == 3 and all(r.wants_stream for r in openai_server.requests)


def test_without_nostream_the_same_server_would_leak_tokens(openai_server: OpenAIServer) -> None:
    """The control: ChatOpenAI itself in a node streams every token of its reply."""
    openai_server.enqueue(Reply(ROOT_CODE, token_delay=TOKEN_DELAY))
    model = chat_openai(openai_server)

    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    parts = list(graph_of(answer).stream({"messages": [HumanMessage("q")]}, stream_mode="messages"))
    texts = streamed_texts(parts)
    assert len(texts) > 5 and any("grep" in text for text in texts)


def slow_server_model(server: OpenAIServer) -> ChatOpenAI:
    """``ChatOpenAI`` with a 0.5 s timeout, against a server that takes 2 s for every reply."""
    server.enqueue(*[Delay(2.0, then=Reply("FINAL: late"))] * 3)
    return ChatOpenAI(base_url=server.base_url, api_key="x", model="m", timeout=0.5)  # type: ignore[arg-type]


def test_a_slow_local_server_gets_one_request_not_a_queue_of_retries(
    openai_server: OpenAIServer,
) -> None:
    """A call that times out is not retried onto the server behind the abandoned one."""
    with pytest.raises(Exception, match=r"(?i)timed? ?out"):
        ChatRLM(llm=slow_server_model(openai_server), context=CONTEXT).invoke(QUESTION)
    assert len(openai_server.requests) == 1


async def test_a_slow_local_server_gets_one_request_on_the_async_path_too(
    openai_server: OpenAIServer,
) -> None:
    with pytest.raises(Exception, match=r"(?i)timed? ?out"):
        await ChatRLM(llm=slow_server_model(openai_server), context=CONTEXT).ainvoke(QUESTION)
    assert len(openai_server.requests) == 1


def test_local_servers_get_clients_without_retries_and_nothing_else_changed() -> None:
    local = ChatOpenAI(base_url="http://127.0.0.1:8080/v1", api_key="x", model="m", timeout=30)  # type: ignore[arg-type]
    used = ChatModelAdapter(local).llm
    assert isinstance(used, ChatOpenAI) and used is not local
    for mine, theirs in (
        (used.root_client, local.root_client),
        (used.root_async_client, local.root_async_client),
    ):
        assert (mine.max_retries, mine.timeout) == (0, 30)  # the user's timeout stays
        assert (theirs.max_retries, theirs.timeout) == (2, 30)  # the user's clients untouched
        assert mine.base_url == theirs.base_url and mine.api_key == theirs.api_key
    assert used.client is used.root_client.chat.completions
    assert used.async_client is used.root_async_client.chat.completions
    assert used._get_llm_string() == local._get_llm_string()  # same fields, same cache key
    assert ChatModelAdapter(used).llm is used  # already without retries: not copied again
    no_timeout = ChatOpenAI(base_url="http://localhost:8080/v1", api_key="x", model="m")  # type: ignore[arg-type]
    assert ChatModelAdapter(no_timeout).llm.root_client.timeout is None  # none stays none
    remote = ChatOpenAI(base_url="https://api.example.com/v1", api_key="x", model="m")  # type: ignore[arg-type]
    assert ChatModelAdapter(remote).llm is remote


def test_a_local_base_url_from_the_environment_is_recognised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    from_env = ChatOpenAI(api_key="x", model="m")  # type: ignore[arg-type]
    assert ChatModelAdapter(from_env).llm.root_client.max_retries == 0
