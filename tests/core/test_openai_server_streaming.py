"""The loopback server's streamed replies, read with the real ``openai`` client and httpx."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from tests.core.openai_server import OpenAIServer, Reply, runaway, split_tokens

pytestmark = pytest.mark.allow_hosts(["127.0.0.1", "::1", "localhost"])


def client(server: OpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)


def test_tokens_join_back_to_the_text() -> None:
    text = "FINAL: it is\n  4711. "
    assert split_tokens(text) == ["FINAL:", " it", " is", "\n  4711.", " "]
    assert "".join(split_tokens(text)) == text


def test_a_stream_sends_the_reply_token_by_token_then_usage(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Reply("one two three", prompt_tokens=5))
    chunks = list(
        client(openai_server).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "q"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert deltas == ["", "one", " two", " three", None]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 3)
    (stream,) = openai_server.streams
    assert (stream.planned, stream.sent, stream.outcome) == (3, 3, "complete")


def test_a_stream_stops_at_the_token_limit_unless_told_to_ignore_it(
    openai_server: OpenAIServer,
) -> None:
    openai_server.enqueue(Reply("a b c d e f"), Reply("a b c d e f", ignore_limits=True))
    texts, reasons = [], []
    for _ in range(2):
        chunks = list(
            client(openai_server).chat.completions.create(
                model="m", messages=[], stream=True, max_completion_tokens=2
            )
        )
        texts.append("".join(c.choices[0].delta.content or "" for c in chunks))
        reasons.append(chunks[-1].choices[0].finish_reason)
    assert texts == ["a b", "a b c d e f"]
    assert reasons == ["length", "stop"]


def test_a_request_without_stream_gets_the_whole_reply(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Reply("a b c d", ignore_limits=True))
    reply = client(openai_server).chat.completions.create(model="m", messages=[], max_tokens=1)
    assert reply.choices[0].message.content == "a b c d"
    assert openai_server.streams == []


def test_the_server_stops_generating_when_the_client_hangs_up(
    openai_server: OpenAIServer,
) -> None:
    openai_server.enqueue(runaway(2000, token_delay=0.002))
    body = {"model": "m", "messages": [], "stream": True, "max_tokens": 5}
    with (
        httpx.Client() as http,
        http.stream("POST", f"{openai_server.base_url}/chat/completions", json=body) as response,
    ):
        events = 0
        for line in response.iter_lines():
            events += line.startswith("data: ")
            if events == 6:  # the role chunk and five tokens
                break
    (stream,) = openai_server.streams
    assert openai_server.wait_until(lambda _: stream.ended)
    assert stream.client_closed
    assert 5 <= stream.sent < 50 and stream.planned == 2000
    assert openai_server.wait_until(lambda s: s.open_connections == 0)


def test_a_gated_reply_pauses_until_the_gate_opens(openai_server: OpenAIServer) -> None:
    gate = threading.Event()
    openai_server.enqueue(Reply("a b c d", gate=gate, gate_after=2))
    stream = client(openai_server).chat.completions.create(model="m", messages=[], stream=True)
    pieces = [next(stream).choices[0].delta.content for _ in range(3)]  # role chunk, a, b
    assert pieces == ["", "a", " b"]
    (record,) = openai_server.streams
    assert record.sent == 2 and not record.ended
    gate.set()
    rest = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert rest == " c d" and record.outcome == "complete"
