"""How many hits a search from the REPL returns: ``similarity_top_k`` and composite retrievers."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import QueryFusionRetriever

from rlm_core import ConfigError, Trace
from rlm_llamaindex import LlamaIndexRetrieverAdapter, RLMQueryEngine

from .helpers import code, scripted_llm

SEARCHES = (
    "print(len(es_search('code')), len(es_search('code', top_k=5)), len(es_vector_search('code')))"
)


def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(
        [Document(text=f"Doc {i}: code {1000 + i}.") for i in range(30)]
    )


def printed(engine_factory: Any, program: str) -> str:
    """What ``program`` printed in the REPL of a query on the engine ``engine_factory`` builds."""
    llm, _ = scripted_llm([code(program), "FINAL: done"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "cannot size" warning either
        response = engine_factory(llm).query("q")
    trace = Trace.from_json(json.dumps(response.metadata["trace"]))
    return "".join(step.stdout or "" for step in trace.of_kind("repl_exec")).strip()


def test_from_index_similarity_top_k_is_the_default_number_of_hits() -> None:
    shared = index()
    assert (
        printed(
            lambda llm: RLMQueryEngine.from_index(shared, llm=llm, similarity_top_k=3), SEARCHES
        )
        == "3 5 3"
    )
    assert (
        printed(
            lambda llm: RLMQueryEngine.from_index(shared, llm=llm, similarity_top_k=25), SEARCHES
        )
        == "25 5 25"
    )
    assert printed(lambda llm: RLMQueryEngine.from_index(shared, llm=llm), SEARCHES) == "10 5 10"


def test_from_defaults_similarity_top_k_applies_to_an_index_or_a_retriever() -> None:
    shared = index()
    assert (
        printed(
            lambda llm: RLMQueryEngine.from_defaults(llm=llm, index=shared, similarity_top_k=4),
            SEARCHES,
        )
        == "4 5 4"
    )
    retriever = shared.as_retriever()
    assert (
        printed(
            lambda llm: RLMQueryEngine.from_defaults(
                llm=llm, retriever=retriever, similarity_top_k=6
            ),
            SEARCHES,
        )
        == "6 5 6"
    )


@pytest.mark.parametrize("bad", [0, -2, "5", 2.5, True, None])
def test_a_bad_similarity_top_k_is_a_config_error(bad: Any) -> None:
    llm, _ = scripted_llm()
    shared = index()
    with pytest.raises(ConfigError, match="similarity_top_k must be"):
        RLMQueryEngine.from_index(shared, llm=llm, similarity_top_k=bad)
    with pytest.raises(ConfigError, match="similarity_top_k must be"):
        RLMQueryEngine.from_defaults(llm=llm, index=shared, similarity_top_k=bad)


def test_the_adapter_default_top_k_is_validated() -> None:
    with pytest.raises(ConfigError, match="default_top_k"):
        LlamaIndexRetrieverAdapter(index().as_retriever(), default_top_k=0)


def test_a_fusion_retrievers_sub_retrievers_do_not_cap_a_search() -> None:
    shared = index()
    # each sub-retriever keeps LlamaIndex's default of 2 hits
    fusion = QueryFusionRetriever(
        [shared.as_retriever(), shared.as_retriever()], llm=MockLLM(), num_queries=1
    )

    def engine(llm: Any) -> RLMQueryEngine:
        return RLMQueryEngine(llm=llm, retriever=fusion)

    assert printed(engine, "print(len(es_search('code', top_k=8)))") == "8"
    assert printed(engine, "print(len(es_search('code')))") == "10"
    # the user's retriever is left as it was built
    assert fusion.similarity_top_k == 2
    assert [r.similarity_top_k for r in fusion._retrievers] == [2, 2]  # type: ignore[attr-defined]
