"""LLMReranker: rlm-core's LLM rerankers as a document compressor, inside LangChain's
ContextualCompressionRetriever."""

from __future__ import annotations

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document

from rlm_langchain import LLMReranker, RLMRetriever

from .conftest import KeywordRetriever, Recorder, scripted

SPACE = [
    Document(page_content="moon facts: the moon landing was in 1969", metadata={"n": 0}),
    Document(page_content="moon cheese legends", metadata={"n": 1}),
    Document(page_content="moon phases and tides", metadata={"n": 2}),
    Document(page_content="moon landing crew names", metadata={"n": 3}),
]


def _retriever(reply: str, **options: object) -> ContextualCompressionRetriever:
    return ContextualCompressionRetriever(
        base_compressor=LLMReranker(llm=scripted(reply), **options),
        base_retriever=KeywordRetriever(documents=SPACE, k=4),
    )


def test_reranks_inside_a_contextual_compression_retriever(recorder: Recorder) -> None:
    retriever = _retriever("[2] > [1]", top_n=2)  # retrieved in the order n=0, 3, 1, 2
    found = retriever.invoke("moon landing", config={"callbacks": [recorder]})
    assert [doc.metadata["n"] for doc in found] == [3, 0]
    (top,) = [run for run in recorder.runs if run.parent_run_id is None]
    (ranking_call,) = recorder.of("chat")
    assert ranking_call.parent_run_id == top.run_id
    prompt = recorder.prompts[ranking_call.run_id][-1].text
    assert "Query: moon landing" in prompt and "[2] moon landing crew names" in prompt


async def test_async_retrieval_reranks_too() -> None:
    found = await _retriever("[2] > [3]", top_n=3).ainvoke("moon")
    assert [doc.metadata["n"] for doc in found] == [1, 2, 0]


def test_tournament_method_keeps_top_n_of_a_large_pool() -> None:
    pool = [Document(page_content=f"passage {i}", metadata={"n": i}) for i in range(30)]
    reranker = LLMReranker(
        llm=scripted("[1] > [2]"), method="tournament", batch_size=10, top_k_per_batch=2, top_n=4
    )
    ranked = reranker.compress_documents(pool, "which passage?")
    assert len(ranked) == 4
    assert len({doc.metadata["n"] for doc in ranked}) == 4


def test_no_documents_means_no_model_call() -> None:
    model = scripted("[1]")
    assert LLMReranker(llm=model).compress_documents([], "q") == []
    assert model.i == 0


def test_also_serves_as_the_reranker_of_rlm_retriever() -> None:
    ranked = RLMRetriever(
        reranker=LLMReranker(llm=scripted("[3] > [2]")), documents=SPACE, k=2
    ).invoke("moon")
    assert [doc.metadata["n"] for doc in ranked] == [2, 1]


def test_bad_settings_fail_when_built() -> None:
    with pytest.raises(ValueError, match="step"):
        LLMReranker(llm=scripted("x"), window_size=4, step=8)
    with pytest.raises(ValueError, match="top_k_per_batch"):
        LLMReranker(llm=scripted("x"), method="tournament", batch_size=4, top_k_per_batch=4)
    with pytest.raises(TypeError, match="chat model"):
        LLMReranker(llm="gpt-4o")  # type: ignore[arg-type]
