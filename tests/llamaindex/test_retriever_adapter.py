"""LlamaIndexRetrieverAdapter with real LlamaIndex retrievers: sizing, filters, cache."""

from __future__ import annotations

import warnings

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rlm_core import ConfigError
from rlm_llamaindex import LlamaIndexRetrieverAdapter, RLMQueryEngine

from .helpers import code, scripted_llm

NODES = [
    TextNode(
        text=f"memo {i} about the harbour",
        id_=f"n{i}",
        metadata={"tags": ["harbour", "even" if i % 2 == 0 else "odd"], "n": i},
    )
    for i in range(10)
]


class FixedRetriever(BaseRetriever):
    """A real BaseRetriever without ``similarity_top_k``: always returns every node."""

    def __init__(self, nodes: list[TextNode]) -> None:
        self.nodes = nodes
        super().__init__()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=n, score=1.0 - i / 100) for i, n in enumerate(self.nodes)]


def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(
        [Document(text=f"memo {i} about the harbour", id_=f"d{i}") for i in range(8)]
    )


def test_top_k_reaches_similarity_top_k_without_touching_the_retriever() -> None:
    retriever = index().as_retriever()  # LlamaIndex's default similarity_top_k is 2
    adapter = LlamaIndexRetrieverAdapter(retriever)
    assert len(adapter.search("harbour", top_k=6)) == 6
    assert retriever.similarity_top_k == 2


def test_retriever_without_similarity_top_k_warns_once() -> None:
    adapter = LlamaIndexRetrieverAdapter(FixedRetriever(NODES))
    with pytest.warns(UserWarning, match="no settable similarity_top_k"):
        assert len(adapter.search("harbour", top_k=3)) == 3
    run = adapter.fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.search("harbour", top_k=3)  # already warned for this adapter


@pytest.mark.filterwarnings("ignore:FixedRetriever has no settable")
def test_filters_apply_before_top_k_and_match_list_metadata() -> None:
    adapter = LlamaIndexRetrieverAdapter(FixedRetriever(NODES))
    hits = adapter.search("harbour", top_k=2, filters={"tags": "odd"})
    assert [h["doc_id"] for h in hits] == ["n1", "n3"]


@pytest.mark.filterwarnings("ignore:FixedRetriever has no settable")
def test_node_cache_is_bounded_and_shared_across_runs() -> None:
    adapter = LlamaIndexRetrieverAdapter(FixedRetriever(NODES), cache_size=4)
    for _ in range(3):
        run = adapter.fresh()
        run.search("harbour", top_k=10)
        assert len(run.hits) == 10  # each run records all its own hits
    assert [f.doc_id for f in adapter.cached] == ["n6", "n7", "n8", "n9"]
    assert adapter.fresh().get("n9")["content"] == "memo 9 about the harbour"
    with pytest.raises(KeyError, match="call es_search first"):
        adapter.fresh().get("n0")


@pytest.mark.filterwarnings("ignore:FixedRetriever has no settable")
def test_full_filter_set_and_bad_filters() -> None:
    adapter = LlamaIndexRetrieverAdapter(FixedRetriever(NODES))
    hits = adapter.search("harbour", top_k=10, filters={"n": {"lt": 4}, "tags": {"prefix": "ev"}})
    assert [h["doc_id"] for h in hits] == ["n0", "n2"]
    with pytest.raises(ConfigError, match="filter 'n' has unknown operator"):
        adapter.search("harbour", filters={"n": {"between": [1, 2]}})


def test_query_engine_over_as_retriever_is_not_capped_at_two() -> None:
    llm, script = scripted_llm(
        [code('print("HITS", len(es_search("memo harbour", top_k=5)))'), "FINAL: done"]
    )
    engine = RLMQueryEngine(llm=llm, retriever=index().as_retriever())
    assert engine.query("How many memos?").response == "done"
    assert "HITS 5" in script.root_prompts[1]  # not LlamaIndex's default of 2
