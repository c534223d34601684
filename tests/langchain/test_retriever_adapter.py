"""LangChainRetrieverAdapter with real LangChain retrievers: sizing, filters, async."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from rlm_core import ConfigError
from rlm_langchain import ChatRLM, LangChainRetrieverAdapter, RLMRunnable

from .conftest import DOCS, KeywordRetriever, Recorder, async_scripted, fenced

MANY = [
    Document(
        id=f"r{i}",
        page_content=f"report number {i} about the harbour",
        metadata={"tags": ["harbour", "even" if i % 2 == 0 else "odd"], "n": i},
    )
    for i in range(12)
]


def ids(hits: list[dict[str, object]]) -> list[object]:
    return [hit["doc_id"] for hit in hits]


def test_top_k_sets_the_declared_k_on_a_copy() -> None:
    retriever = KeywordRetriever(documents=MANY, k=3)
    adapter = LangChainRetrieverAdapter(retriever)
    assert len(adapter.search("harbour report", top_k=7)) == 7  # not capped at k=3
    assert retriever.k == 3  # the user's retriever is left alone
    assert len(adapter.search("harbour report", top_k=2)) == 2


def test_vector_store_retriever_gets_k_in_search_kwargs() -> None:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    store.add_documents(MANY)
    retriever = store.as_retriever()  # LangChain's default is k=4
    adapter = LangChainRetrieverAdapter(retriever)
    assert len(adapter.search("harbour", top_k=9)) == 9
    assert retriever.search_kwargs == {}


def test_filters_apply_before_top_k_and_match_list_metadata() -> None:
    adapter = LangChainRetrieverAdapter(KeywordRetriever(documents=MANY, k=2))
    hits = adapter.search("harbour report", top_k=3, filters={"tags": "odd"})
    assert ids(hits) == ["r1", "r3", "r5"]  # list-valued metadata; 12 fetched, then cut
    assert adapter.get("r5")["metadata"]["n"] == 5
    assert [doc.id for doc in adapter.documents] == ["r1", "r3", "r5"]


def test_full_filter_set_and_bad_filters() -> None:
    adapter = LangChainRetrieverAdapter(KeywordRetriever(documents=MANY, k=2))
    hits = adapter.search("harbour", top_k=10, filters={"n": {"gte": 8}, "tags": {"not": "odd"}})
    assert ids(hits) == ["r8", "r10"]
    with pytest.raises(ConfigError, match="filter 'n' sets both"):
        adapter.search("harbour", filters={"n": {"gt": 1, "gte": 2}})


class AsyncOnlyRetriever(KeywordRetriever):
    """A real BaseRetriever whose sync path fails: only ``ainvoke`` works."""

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        raise NotImplementedError("this retriever is async only")

    async def _aget_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return super()._get_relevant_documents(query, run_manager=run_manager)


SEARCH_CODE = fenced(
    "hits = es_search('moon landing', top_k=2)\nprint(es_get(hits[0]['doc_id'])['content'])"
)


async def test_async_runs_call_the_retrievers_async_api(recorder: Recorder) -> None:
    retriever = AsyncOnlyRetriever(documents=DOCS)
    rlm = RLMRunnable(llm=async_scripted(SEARCH_CODE, "FINAL: 1969"), retriever=retriever)
    result = await rlm.with_trace().ainvoke("When?", config={"callbacks": [recorder]})
    assert result.answer == "1969"
    assert "1969" in (result.trace.steps[1].stdout or "")
    assert len(recorder.of("retriever")) == 1  # the async retriever run is in the tree

    chat = ChatRLM(llm=async_scripted(SEARCH_CODE, "FINAL: 1969"), retriever=retriever)
    assert (await chat.ainvoke("When was the moon landing?")).content == "1969"


def test_sync_runs_use_the_sync_api() -> None:
    adapter = LangChainRetrieverAdapter(AsyncOnlyRetriever(documents=DOCS))
    with pytest.raises(NotImplementedError, match="async only"):
        adapter.search("moon")
