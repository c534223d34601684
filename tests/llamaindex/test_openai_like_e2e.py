"""RLMQueryEngine and RLMLLM driving the real ``OpenAILike`` against a loopback server.

The field report of issue 15, replayed end to end: ``OpenAILike`` talks to an
OpenAI-compatible server on 127.0.0.1 that streams token by token and, like a
llama.cpp server, can ignore the token limit. The model limits must reach the
server by default, a reply the server generates without bound must be cut at the
cap with its connection closed (no retries piling abandoned generations onto the
server), and a streamed query must hand out answer tokens while the root model is
still writing them.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.llms.openai_like import OpenAILike

from rlm_llamaindex import RLMLLM, LlamaIndexLLMAdapter, RLMQueryEngine
from rlm_llamaindex.local_server import LOCAL_TIMEOUT_S

from .helpers import DOCS, code
from tests.core.openai_server import (
    CAP_SLACK,
    TOKEN_DELAY,
    Delay,
    OpenAIServer,
    Reply,
    StreamRecord,
    runaway,
)

pytestmark = pytest.mark.allow_hosts(["127.0.0.1", "::1", "localhost"])

QUESTION = "What is the launch code?"
ANSWER = "The launch code for project Heron is 7319."
GREP_AND_ASK = code(
    'hits = grep("launch code", window=40)\nprint(llm_query("What is the launch code? " + hits[0]))'
)
WAIT = 10.0


def openai_like(openai_server: OpenAIServer) -> OpenAILike:
    """``OpenAILike`` as a user points it at a local server (default timeout and retries)."""
    return OpenAILike(
        api_base=openai_server.base_url, api_key="x", model="local-model", is_chat_model=True
    )


def script_a_run(openai_server: OpenAIServer, final: Reply | None = None) -> None:
    """Root code with one sub-call, the sub-call's reply, then the root's answer."""
    openai_server.enqueue(
        Reply(GREP_AND_ASK, token_delay=TOKEN_DELAY),
        Reply("7319", token_delay=TOKEN_DELAY),
        final or Reply(f"FINAL: {ANSWER}", token_delay=TOKEN_DELAY),
    )


def assert_cut(stream: StreamRecord, openai_server: OpenAIServer, cap: int) -> None:
    """The client read just past ``cap`` tokens of a 2000-token reply and hung up."""
    assert openai_server.wait_until(lambda _: stream.ended, timeout=WAIT)
    assert stream.request.body["max_tokens"] == cap  # sent, and ignored by the server
    assert stream.planned == 2000
    assert stream.client_closed
    assert cap <= stream.sent <= cap + 1 + CAP_SLACK


def test_model_limits_reach_the_server_by_default(openai_server: OpenAIServer) -> None:
    script_a_run(openai_server)
    engine = RLMQueryEngine(
        llm=openai_like(openai_server),
        documents=DOCS,
        max_output_tokens=300,
        subcall_max_output_tokens=50,
    )

    assert str(engine.query(QUESTION)) == ANSWER

    bodies = [request.body for request in openai_server.requests]
    assert [body["max_tokens"] for body in bodies] == [300, 50, 300]  # root, sub-call, root
    assert all(body["temperature"] == 0.0 and body["stream"] is True for body in bodies)
    assert [stream.outcome for stream in openai_server.streams] == ["complete"] * 3


def test_a_runaway_root_reply_is_cut_at_the_cap_and_its_connection_closed(
    openai_server: OpenAIServer,
) -> None:
    openai_server.enqueue(runaway(2000))
    script_a_run(openai_server, Reply("FINAL: 7319", token_delay=TOKEN_DELAY))
    engine = RLMQueryEngine(llm=openai_like(openai_server), documents=DOCS, max_output_tokens=8)

    assert str(engine.query(QUESTION)) == "7319"

    assert_cut(openai_server.streams[0], openai_server, cap=8)
    assert len(openai_server.requests) == 4  # one request per model call: nothing retried
    assert [stream.outcome for stream in openai_server.streams[1:]] == ["complete"] * 3


async def test_the_async_engine_cuts_a_runaway_reply_too(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(runaway(2000))
    script_a_run(openai_server, Reply("FINAL: 7319", token_delay=TOKEN_DELAY))
    engine = RLMQueryEngine(llm=openai_like(openai_server), documents=DOCS, max_output_tokens=8)

    assert str(await engine.aquery(QUESTION)) == "7319"

    first = openai_server.streams[0]  # wait with the event loop free to close the stream
    assert await asyncio.to_thread(openai_server.wait_until, lambda _: first.ended, WAIT)
    assert_cut(first, openai_server, cap=8)
    assert len(openai_server.requests) == 4


def test_a_runaway_sub_call_is_cut_at_its_own_cap(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        Reply(GREP_AND_ASK, token_delay=TOKEN_DELAY),
        runaway(2000),
        Reply("FINAL: 7319", token_delay=TOKEN_DELAY),
    )
    engine = RLMQueryEngine(
        llm=openai_like(openai_server), documents=DOCS, subcall_max_output_tokens=6
    )

    assert str(engine.query(QUESTION)) == "7319"

    assert_cut(openai_server.streams[1], openai_server, cap=6)
    assert len(openai_server.requests) == 3


def test_streaming_hands_out_answer_tokens_while_the_root_still_writes(
    openai_server: OpenAIServer,
) -> None:
    gate = threading.Event()
    script_a_run(openai_server, Reply(f"FINAL: {ANSWER}", gate=gate, gate_after=6))
    engine = RLMQueryEngine(llm=openai_like(openai_server), documents=DOCS, streaming=True)

    response = engine.query(QUESTION)
    assert isinstance(response, StreamingResponse)
    first = next(response.response_gen)

    final = openai_server.streams[2]
    assert first and ANSWER.startswith(first)
    assert not final.ended and final.sent == 6  # the server is still writing the answer
    gate.set()
    assert first + "".join(response.response_gen) == ANSWER
    assert final.outcome == "complete"
    assert response.source_nodes and "7319" in response.source_nodes[0].node.get_content()


async def test_async_streaming_hands_out_answer_tokens_while_the_root_still_writes(
    openai_server: OpenAIServer,
) -> None:
    gate = threading.Event()
    script_a_run(openai_server, Reply(f"FINAL: {ANSWER}", gate=gate, gate_after=6))
    engine = RLMQueryEngine(llm=openai_like(openai_server), documents=DOCS, streaming=True)

    response = await engine.aquery(QUESTION)
    assert isinstance(response, AsyncStreamingResponse)
    pieces = response.async_response_gen()
    first = await pieces.__anext__()

    assert first and ANSWER.startswith(first)
    assert not openai_server.streams[2].ended
    gate.set()
    assert first + "".join([piece async for piece in pieces]) == ANSWER


def test_rlm_llm_chat_over_the_server(openai_server: OpenAIServer) -> None:
    script_a_run(openai_server)
    llm = RLMLLM(llm=openai_like(openai_server), documents=DOCS, max_output_tokens=300)

    reply = llm.chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])

    assert reply.message.content == ANSWER
    assert [request.body["max_tokens"] for request in openai_server.requests] == [300, 1024, 300]


def test_rlm_llm_stream_chat_streams_the_answer_as_written(openai_server: OpenAIServer) -> None:
    gate = threading.Event()
    script_a_run(openai_server, Reply(f"FINAL: {ANSWER}", gate=gate, gate_after=6))
    llm = RLMLLM(llm=openai_like(openai_server), documents=DOCS)

    chunks = llm.stream_chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    first = next(chunks)

    assert first.delta and ANSWER.startswith(first.delta)
    assert not openai_server.streams[2].ended
    gate.set()
    rest = list(chunks)
    assert first.delta + "".join(chunk.delta or "" for chunk in rest) == ANSWER
    assert rest[-1].message.content == ANSWER


def test_a_slow_local_server_gets_one_request_not_a_queue_of_retries(
    openai_server: OpenAIServer,
) -> None:
    """A call that times out is not retried onto the server behind the abandoned one."""
    openai_server.enqueue(*[Delay(2.0, then=Reply("FINAL: late"))] * 4)
    slow_client = OpenAILike(
        api_base=openai_server.base_url,
        api_key="x",
        model="local-model",
        is_chat_model=True,
        timeout=0.5,
    )
    engine = RLMQueryEngine(llm=slow_client, documents=DOCS)
    with pytest.raises(Exception, match=r"(?i)time"):
        engine.query(QUESTION)
    assert len(openai_server.requests) == 1


def test_local_servers_get_no_retries_and_a_long_default_timeout() -> None:
    local = OpenAILike(api_base="http://127.0.0.1:8080/v1", api_key="x", model="m")
    used = LlamaIndexLLMAdapter(local).llm
    assert (used.max_retries, used.timeout, used.reuse_client) == (0, LOCAL_TIMEOUT_S, False)
    assert (local.max_retries, local.timeout) == (3, 60.0)  # the user's object is untouched
    explicit = OpenAILike(api_base="http://localhost:8080/v1", api_key="x", model="m", timeout=5)
    assert LlamaIndexLLMAdapter(explicit).llm.timeout == 5  # a timeout the user chose stays
    remote = OpenAILike(api_base="https://api.example.com/v1", api_key="x", model="m")
    assert LlamaIndexLLMAdapter(remote).llm is remote
