"""ChatModelAdapter and LangChainRetrieverAdapter against the real LangChain classes."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

from rlm_core.adapters.base import ModelResponse, Usage
from rlm_langchain import ChatModelAdapter, LangChainRetrieverAdapter, doc_id_of

from .conftest import DOCS, KeywordRetriever, Recorder, scripted

MESSAGES = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "question"},
    {"role": "assistant", "content": "code"},
    {"role": "user", "content": "output"},
]


class _LimitedModel(FakeMessagesListChatModel):
    """A fake chat model that declares max_tokens and records the kwargs of each call."""

    max_tokens: int | None = None
    seen: list[dict[str, Any]] = Field(default_factory=list)
    received: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(kwargs)
        self.received.append(messages)
        return super()._generate(messages, stop, run_manager)


def test_messages_are_mapped_by_role_and_usage_is_read() -> None:
    reply = AIMessage(
        content="hello",
        usage_metadata={"input_tokens": 11, "output_tokens": 3, "total_tokens": 14},
        response_metadata={"model_name": "m-1"},
    )
    model = _LimitedModel(responses=[reply], seen=[], received=[])
    response = ChatModelAdapter(model).complete(MESSAGES, max_tokens=99)
    assert response == ModelResponse(text="hello", usage=Usage(11, 3), model="m-1")
    assert [type(m) for m in model.received[0]] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        HumanMessage,
    ]
    assert model.seen[0] == {"max_tokens": 99}


def test_max_tokens_is_not_bound_for_models_without_it() -> None:
    model = scripted("plain")
    adapter = ChatModelAdapter(model)
    assert adapter.bind_max_tokens is False
    response = adapter.complete(MESSAGES, max_tokens=5)
    assert response.text == "plain"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0  # estimated
    assert adapter.model_id == "fake-messages-list-chat-model"


async def test_acomplete_and_config_make_child_runs(recorder: Recorder) -> None:
    adapter = ChatModelAdapter(scripted("async reply")).with_config({"callbacks": [recorder]})
    response = await adapter.acomplete(MESSAGES, max_tokens=10)
    assert response.text == "async reply"
    assert len(recorder.of("chat")) == 1


def test_adapter_errors_name_the_fix() -> None:
    with pytest.raises(TypeError, match="ChatOpenAI rather than OpenAI"):
        ChatModelAdapter(FakeListLLM(responses=["x"]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role 'tool'"):
        ChatModelAdapter(scripted("x")).complete([{"role": "tool", "content": "x"}])
    with pytest.raises(ValueError, match="context_window"):
        ChatModelAdapter(scripted("x"), context_window=0)


def test_context_window_feeds_the_core() -> None:
    assert ChatModelAdapter(scripted("x"), context_window=4096).context_window == 4096


def test_retriever_adapter_search_and_get() -> None:
    adapter = LangChainRetrieverAdapter(KeywordRetriever(documents=DOCS), preview_chars=10)
    hits = adapter.search("moons of mars", top_k=5)
    assert hits[0] == {
        "doc_id": "mars",
        "preview": DOCS[1].page_content[:10],
        "score": 1.0,
        "metadata": {"doc_id": "mars", "topic": "space"},
    }
    assert adapter.get("mars")["content"] == DOCS[1].page_content
    assert adapter.vector_search("moons", top_k=1) == adapter.hybrid_search("moons", top_k=1)
    assert adapter.documents[0].page_content == DOCS[1].page_content


def test_retriever_adapter_filters_and_top_k() -> None:
    adapter = LangChainRetrieverAdapter(KeywordRetriever(documents=DOCS, k=4))
    hits = adapter.search("the moon of the town", top_k=1, filters={"topic": ["town"]})
    assert [hit["doc_id"] for hit in hits] == [doc_id_of(DOCS[3])]
    assert adapter.search("the", top_k=2, filters={"topic": "nothing"}) == []


def test_doc_ids_are_stable_hashes_without_ids() -> None:
    doc = Document(page_content="same", metadata={"a": 1})
    assert doc_id_of(doc) == doc_id_of(Document(page_content="same", metadata={"a": 1}))
    assert doc_id_of(doc) != doc_id_of(Document(page_content="same", metadata={"a": 2}))
    assert doc_id_of(DOCS[0]) == "moon"


def test_retriever_adapter_errors() -> None:
    adapter = LangChainRetrieverAdapter(KeywordRetriever(documents=DOCS))
    with pytest.raises(KeyError, match="call es_search first"):
        adapter.get("nope")
    with pytest.raises(ValueError, match="top_k"):
        adapter.search("moon", top_k=0)
    with pytest.raises(TypeError, match="as_retriever"):
        LangChainRetrieverAdapter(object())  # type: ignore[arg-type]


def test_retriever_calls_are_child_runs(recorder: Recorder) -> None:
    adapter = LangChainRetrieverAdapter(
        KeywordRetriever(documents=DOCS), config={"callbacks": [recorder]}
    )
    adapter.search("moon")
    assert len(recorder.of("retriever")) == 1
