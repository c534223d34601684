"""``ListwiseLLMRerank`` as a node postprocessor, alone and inside a query engine."""

from __future__ import annotations

import re
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, TextNode

from rlm_core import ConfigError
from rlm_llamaindex import ListwiseLLMRerank

from .helpers import EventRecorder, ScriptedLLM

TEXTS = [f"passage about topic {n}" for n in range(6)] + ["the answer is about heron codes"]


def ranking_llm() -> ScriptedLLM:
    """Ranks passages that mention 'heron' first, the rest in the order shown."""

    def rank(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
        text = str(messages[-1].content)
        passages = re.findall(r"^\[(\d+)\] (.*)$", text, flags=re.MULTILINE)
        order = sorted(passages, key=lambda p: "heron" not in p[1])  # stable: rest keep order
        return ChatMessage(
            role=MessageRole.ASSISTANT, content=" > ".join(f"[{i}]" for i, _ in order)
        )

    return ScriptedLLM(response_generator=rank, is_chat_model=True)


NODES = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.1) for i, t in enumerate(TEXTS)]


@pytest.mark.parametrize("mode", ["listwise", "tournament"])
def test_reorders_and_keeps_top_n(mode: str, events: EventRecorder) -> None:
    rerank = ListwiseLLMRerank(
        llm=ranking_llm(),
        top_n=3,
        mode=mode,
        window_size=3,
        step=2,
        batch_size=3,
        top_k_per_batch=2,
    )
    assert isinstance(rerank, BaseNodePostprocessor)

    hits = rerank.postprocess_nodes(NODES, query_str="heron codes")

    assert len(hits) == 3
    assert hits[0].node.node_id == "n6"
    assert [hit.score for hit in hits] == [1.0, 0.6667, 0.3333]
    assert rerank.llm_calls >= 2
    assert len(events.of("ReRankStartEvent")) == len(events.of("ReRankEndEvent")) == 1


def test_as_a_query_engine_postprocessor() -> None:
    index = VectorStoreIndex.from_documents([Document(text=t) for t in TEXTS])
    rerank = ListwiseLLMRerank(llm=ranking_llm(), top_n=2)
    engine = index.as_query_engine(similarity_top_k=7, node_postprocessors=[rerank])

    response = engine.query("heron")

    assert response.source_nodes[0].node.get_content() == TEXTS[-1]
    assert len(response.source_nodes) == 2


def test_errors_name_the_fix() -> None:
    with pytest.raises(ValueError, match="needs the query"):
        ListwiseLLMRerank(llm=ranking_llm()).postprocess_nodes(NODES)
    with pytest.raises(ConfigError, match="top_n"):
        ListwiseLLMRerank(llm=ranking_llm(), top_n=0)
    with pytest.raises(ConfigError, match="step"):
        ListwiseLLMRerank(llm=ranking_llm(), window_size=2, step=5)
