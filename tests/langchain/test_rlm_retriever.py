"""RLMRetriever: documents selected and ordered by an RLM (or a reranker)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rlm_langchain import RLMRetriever
from rlm_langchain.retriever import parse_ranking

from .conftest import DOCS, KeywordRetriever, Recorder, async_scripted, fenced, scripted

ALL_IDS = (
    fenced("import re\nranking = re.findall(r'^\\[(d\\d+)\\]', P, re.M)") + "\nFINAL_VAR: ranking"
)


class TestRLMRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[RLMRetriever]:
        return RLMRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        root = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content=ALL_IDS)]))
        return {"llm": root, "documents": DOCS}

    @property
    def retriever_query_example(self) -> str:
        return "space"


def test_rlm_selects_and_orders_documents() -> None:
    code = fenced(
        "import re\n"
        "ids = re.findall(r'^\\[(d\\d+)\\]\\n(.*)$', P, re.M)\n"
        "ranking = [i for i, text in ids if 'moon' in text.lower()][::-1]\n"
        "print(ranking)"
    )
    retriever = RLMRetriever(llm=scripted(code + "\nFINAL_VAR: ranking"), documents=DOCS)
    found = retriever.invoke("moons")
    assert [doc.page_content for doc in found] == [DOCS[1].page_content, DOCS[0].page_content]


def test_base_retriever_candidates_and_run_tree(recorder: Recorder) -> None:
    base = KeywordRetriever(documents=DOCS, k=3)
    retriever = RLMRetriever(llm=scripted("FINAL: ['d1', 'd0', 'd9', 'd1']"), base_retriever=base)
    found = retriever.invoke("the moon landing", config={"callbacks": [recorder]})
    candidates = base.invoke("the moon landing")
    assert found == [candidates[1], candidates[0]]
    (top,) = [run for run in recorder.of("retriever") if run.parent_run_id is None]
    children = [run for run in recorder.runs if run.parent_run_id == top.run_id]
    assert {run.kind for run in children} == {"retriever", "chat"}


async def test_async_path_uses_async_models() -> None:
    retriever = RLMRetriever(llm=async_scripted("FINAL: d2"), documents=DOCS, k=1)
    assert await retriever.ainvoke("bread") == [DOCS[2]]


class _ReverseReranker(BaseDocumentCompressor):
    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        return list(reversed(documents))


def test_reranker_mode() -> None:
    retriever = RLMRetriever(reranker=_ReverseReranker(), documents=DOCS, k=2)
    assert retriever.invoke("anything") == [DOCS[3], DOCS[2]]


def test_parse_ranking() -> None:
    assert parse_ranking("['d2', 'd0', 'd2', 'd7']", 3) == [2, 0]
    assert parse_ranking("none", 3) == []


def test_errors_name_the_fix() -> None:
    with pytest.raises(ValueError, match="exactly one source"):
        RLMRetriever(llm=scripted("x"))
    with pytest.raises(ValueError, match="exactly one of llm"):
        RLMRetriever(documents=DOCS)
    with pytest.raises(ValueError, match="k must be a positive int"):
        RLMRetriever(llm=scripted("x"), documents=DOCS, k=0)
    with pytest.raises(TypeError, match="chat model"):
        RLMRetriever(llm=object(), documents=DOCS)
