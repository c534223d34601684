"""The LLM cache never serves another setup's answer; token usage is counted once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from rlm_langchain import ChatRLM, RLMSessions

from .conftest import DOCS, KeywordRetriever, fenced, scripted

# The answer is the context's first word, so two contexts give two answers.
FIRST_WORD = fenced("first = P.split()[0]\nprint(first)")
ROOT_REPLIES = (FIRST_WORD, "FINAL_VAR: first")


@pytest.fixture
def llm_cache() -> Iterator[InMemoryCache]:
    cache = InMemoryCache()
    set_llm_cache(cache)
    try:
        yield cache
    finally:
        set_llm_cache(None)


def test_two_contexts_never_share_an_answer_and_the_same_setup_hits(
    llm_cache: InMemoryCache,
) -> None:
    root = scripted(*ROOT_REPLIES)
    alpha = ChatRLM(llm=root, context="alpha text about ships")
    beta = ChatRLM(llm=root, context="beta text about trains")
    assert alpha.invoke("first word?").text == "alpha"
    assert beta.invoke("first word?").text == "beta"
    calls_before = root.i
    again = ChatRLM(llm=root, context="alpha text about ships")
    assert again.invoke("first word?").text == "alpha"
    assert root.i == calls_before  # served from the cache: the root model was not called


def test_the_cache_key_covers_retriever_options_and_models(llm_cache: InMemoryCache) -> None:
    root = scripted(*ROOT_REPLIES)
    base = ChatRLM(llm=root, context="alpha")
    variants = [
        ChatRLM(llm=root, context="alpha", retriever=KeywordRetriever(documents=DOCS)),
        ChatRLM(llm=root, context="alpha", retriever=KeywordRetriever(documents=DOCS[:1])),
        ChatRLM(llm=root, context="alpha", rlm_options={"max_output_tokens": 99}),
        ChatRLM(llm=root, context="alpha", sub_llm=scripted("sub")),
        ChatRLM(llm=scripted("other root"), context="alpha"),
        ChatRLM(llm=root, context=["alpha"]),
    ]
    keys = {model._get_llm_string() for model in [base, *variants]}
    assert len(keys) == 1 + len(variants)
    assert base._get_llm_string() == ChatRLM(llm=root, context="alpha")._get_llm_string()
    params = base._identifying_params
    assert "alpha" not in str(params)  # a fingerprint, not the text itself
    assert len(params["context_sha256"]) == 16


def _with_usage(text: str, name: str, tokens: tuple[int, int]) -> AIMessage:
    return AIMessage(
        content=text,
        response_metadata={"model_name": name},
        usage_metadata=UsageMetadata(
            input_tokens=tokens[0], output_tokens=tokens[1], total_tokens=sum(tokens)
        ),
    )


def test_usage_is_counted_once_by_the_usage_callback() -> None:
    code = fenced("print(llm_query('year? ' + P[:40]))")
    root = FakeMessagesListChatModel(
        responses=[
            _with_usage(code, "root-model", (100, 20)),
            _with_usage("FINAL: 1969", "root-model", (150, 5)),
        ]
    )
    sub = FakeMessagesListChatModel(responses=[_with_usage("1969", "sub-model", (30, 2))])
    chat = ChatRLM(llm=root, sub_llm=sub, context="The moon landing was in 1969.")
    with get_usage_metadata_callback() as usage:
        reply = chat.invoke("When?")
    assert reply.text == "1969"
    assert usage.usage_metadata == {
        "root-model": {"input_tokens": 250, "output_tokens": 25, "total_tokens": 275},
        "sub-model": {"input_tokens": 30, "output_tokens": 2, "total_tokens": 32},
    }
    assert reply.usage_metadata is None
    assert reply.response_metadata["rlm_usage"] == {
        "input_tokens": 280,
        "output_tokens": 27,
        "total_tokens": 307,
    }


async def test_usage_is_counted_once_when_streamed() -> None:
    root = FakeMessagesListChatModel(
        responses=[_with_usage(fenced("print(P[:5])") + "\nFINAL: ok", "root-model", (10, 4))]
    )
    chat = ChatRLM(llm=root, context="some text")
    with get_usage_metadata_callback() as usage:
        chunks = [chunk async for chunk in chat.astream("q")]
    assert "".join(chunk.text for chunk in chunks) == "ok"
    assert usage.usage_metadata == {
        "root-model": {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14}
    }


# A counter kept in the REPL: each turn of a conversation adds one.
COUNT = (fenced("x = globals().get('x', 0) + 1\nprint(x)"), "FINAL_VAR: x")


def test_conversation_turns_never_come_from_the_cache(llm_cache: InMemoryCache) -> None:
    sessions = RLMSessions()
    chat = ChatRLM(llm=scripted(*COUNT), context="alpha", sessions=sessions)
    first = {"configurable": {"session_id": "first"}}
    second = {"configurable": {"thread_id": "second"}}
    try:
        assert chat.invoke("count", config=first).text == "1"
        assert chat.invoke("count", config=first).text == "2"  # the turn ran in its REPL
        assert chat.invoke("count", config=second).text == "1"  # not the other's answer
    finally:
        sessions.close_all()


async def test_async_conversation_turns_never_come_from_the_cache(
    llm_cache: InMemoryCache,
) -> None:
    sessions = RLMSessions()
    chat = ChatRLM(llm=scripted(*COUNT), context="alpha", sessions=sessions)
    config = {"configurable": {"session_id": "a"}}
    try:
        assert (await chat.ainvoke("count", config=config)).text == "1"
        assert (await chat.ainvoke("count", config=config)).text == "2"
    finally:
        sessions.close_all()


class CountingChatModel(FakeMessagesListChatModel):
    """A scripted fake chat model that counts its calls (outside its fields, which are part
    of the cache key)."""

    _calls: int = PrivateAttr(default=0)

    @property
    def calls(self) -> int:
        return self._calls

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        self._calls += 1
        return super()._generate(*args, **kwargs)


def test_a_run_over_a_retriever_skips_the_cache_unless_asked(llm_cache: InMemoryCache) -> None:
    """The index behind a retriever can change between calls while the key stays the same."""
    root = CountingChatModel(responses=[AIMessage(content=reply) for reply in ROOT_REPLIES])
    retriever = KeywordRetriever(documents=DOCS)
    searching = ChatRLM(llm=root, context="alpha", retriever=retriever)
    assert searching.invoke("first word?").text == "alpha"
    assert searching.invoke("first word?").text == "alpha"
    assert root.calls == 4  # both runs called the root model (code, then the answer)
    opted_in = ChatRLM(llm=root, context="alpha", retriever=retriever, cache=True)
    assert opted_in.invoke("first word?").text == "alpha"
    assert opted_in.invoke("first word?").text == "alpha"
    assert root.calls == 6  # the second answer came from the cache
