"""LangChainRetrieverAdapter with real LangChain retrievers: sizing, filters, async."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from rlm_core import ConfigError
from rlm_langchain import LangChainRetrieverAdapter

from .conftest import KeywordRetriever

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
