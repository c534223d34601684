"""Streaming queries: the run starts at once, answer text flows live, spans close at the end."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.core.llms.callbacks import llm_chat_callback
from pydantic import PrivateAttr

from rlm_llamaindex import RLMQueryEngine

from .helpers import DOCS, EventRecorder, ScriptedLLM, code, scripted_llm

PAD = " filler" * 60
LONG_DOCS = [doc + PAD for doc in DOCS]
GREP_AND_ASK = code(
    'hits = grep("launch code", window=40)\n'
    "print(hits)\n"
    'print(llm_query("What is the launch code? " + hits[0]))'
)
ANSWER = "The launch code is 7319, kept in the vault."
WAIT = 10  # seconds a gate waits at most, so a broken test fails instead of hanging


class GatedLLM(ScriptedLLM):
    """Streams the reply that starts with ``FINAL:`` up to its third word, then waits
    for ``gate`` before sending the rest (the model still generating the answer)."""

    _gate: threading.Event = PrivateAttr(default_factory=threading.Event)
    _agate: asyncio.Event | None = PrivateAttr(default=None)

    def _split(self, text: str) -> tuple[list[ChatResponse], list[ChatResponse]]:
        chunks = list(self._chunks(text))
        cut = 7 if text.startswith("FINAL:") else len(chunks)  # past the refusal check
        return chunks[:cut], chunks[cut:]

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Any:
        head, tail = self._split(self._reply(messages, kwargs))

        def generate() -> Generator[ChatResponse, None, None]:
            yield from head
            if tail:
                assert self._gate.wait(WAIT), "the test never opened the gate"
            yield from tail

        return generate()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Any:
        head, tail = self._split(self._reply(messages, kwargs))
        if self._agate is None:
            self._agate = asyncio.Event()
        gate = self._agate

        async def generate() -> AsyncGenerator[ChatResponse, None]:
            for chunk in head:
                yield chunk
            if tail:
                await asyncio.wait_for(gate.wait(), WAIT)
            for chunk in tail:
                yield chunk

        return generate()


def gated(root: list[str], sub: str = "7319") -> GatedLLM:
    _, script = scripted_llm(root, sub=sub)
    return GatedLLM(response_generator=script, is_chat_model=True)


def test_query_returns_at_once_and_streams_the_answer_as_generated(
    spans: SimpleSpanHandler, events: EventRecorder
) -> None:
    llm = gated([GREP_AND_ASK, f"FINAL: {ANSWER}"])
    engine = RLMQueryEngine(llm=llm, documents=LONG_DOCS, streaming=True)

    response = engine.query("What is the launch code?")

    assert isinstance(response, StreamingResponse)
    first = next(response.response_gen)  # the model is still generating the answer
    assert ANSWER.startswith(first) and first
    assert not llm._gate.is_set()
    assert events.of("QueryEndEvent") == []  # the query is still running
    assert response.source_nodes == []
    llm._gate.set()

    assert first + "".join(response.response_gen) == ANSWER
    assert response.source_nodes[0].node.get_content().startswith("Beta memo")
    assert response.metadata is not None and response.metadata["root_steps"] == 2
    assert [e.response for e in events.of("QueryEndEvent")] == [response]
    by_id = {span.id_: span for span in spans.completed_spans}
    outer = [i for i in by_id if i.startswith("RLMQueryEngine.query-")]
    inner = [i for i in by_id if i.startswith("RLMQueryEngine._query-")]
    assert len(outer) == len(inner) == 1
    assert by_id[inner[0]].parent_id == outer[0]
    steps = [i for i in by_id if i.startswith("RLMStep.root_call-")]
    assert len(steps) == 2 and all(by_id[i].parent_id == inner[0] for i in steps)
    for step in steps:  # every step ended before the query span did
        assert by_id[step].end_time <= by_id[inner[0]].end_time <= by_id[outer[0]].end_time


async def test_aquery_returns_at_once_and_streams_the_answer(events: EventRecorder) -> None:
    llm = gated([GREP_AND_ASK, f"FINAL: {ANSWER}"])
    engine = RLMQueryEngine(llm=llm, documents=LONG_DOCS, streaming=True)

    response = await engine.aquery("What is the launch code?")

    assert isinstance(response, AsyncStreamingResponse)
    stream = response.async_response_gen()
    first = await stream.__anext__()
    assert ANSWER.startswith(first) and first
    assert events.of("QueryEndEvent") == []
    assert llm._agate is not None
    llm._agate.set()
    assert first + "".join([piece async for piece in stream]) == ANSWER
    assert response.source_nodes[0].node.get_content().startswith("Beta memo")
    assert len(events.of("QueryEndEvent")) == 1


@pytest.mark.parametrize(
    "final",
    [
        code("answer = 'alpha beta'") + "\nFINAL: alpha beta",  # code first: sent at the end
        "FINAL_VAR: answer",
    ],
)
def test_replies_that_may_not_stand_are_sent_when_the_run_ends(final: str) -> None:
    llm, _ = scripted_llm([code("answer = 'alpha beta'"), final])
    engine = RLMQueryEngine(llm=llm, documents=DOCS, streaming=True)
    response = engine.query("q")
    assert isinstance(response, StreamingResponse)
    assert "".join(response.response_gen) == "alpha beta"


def test_a_rejected_final_is_not_streamed() -> None:
    llm, _ = scripted_llm(["FINAL: too early", code("print(peek(5))"), "FINAL: checked"])
    engine = RLMQueryEngine(llm=llm, documents=DOCS, streaming=True, require_repl_before_final=True)
    response = engine.query("q")
    assert isinstance(response, StreamingResponse)
    assert "".join(response.response_gen) == "checked"


def test_a_failed_run_raises_from_the_stream_and_drops_the_span(spans: SimpleSpanHandler) -> None:
    llm, _ = scripted_llm([])  # the script is empty: the first root call fails
    engine = RLMQueryEngine(llm=llm, documents=DOCS, streaming=True)
    response = engine.query("q")
    assert isinstance(response, StreamingResponse)
    with pytest.raises(Exception, match="root script used up"):
        list(response.response_gen)
    assert any(s.id_.startswith("RLMQueryEngine.query-") for s in spans.dropped_spans)
