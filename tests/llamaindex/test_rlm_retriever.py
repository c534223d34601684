"""RLMRetriever: candidates chosen and ordered by an RLM run."""

from __future__ import annotations

import pytest
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import TextNode

from rlm_core.errors import ConfigError
from rlm_llamaindex import RLMRetriever
from rlm_llamaindex.retriever import parse_selection

from .helpers import DOCS, code, scripted_llm
from .test_adapters import NODES, KeywordRetriever


def test_is_a_llamaindex_retriever() -> None:
    names_of_base_classes = [b.__name__ for b in RLMRetriever.__mro__]
    assert BaseRetriever.__name__ in names_of_base_classes


def test_nodes_are_chosen_and_ordered_by_the_run() -> None:
    llm, script = scripted_llm([code('print(grep("passage", window=60))'), "FINAL: [3, 1, 3, 9]"])
    retriever = RLMRetriever(llm=llm, nodes=NODES)

    hits = retriever.retrieve("lake and orchard")

    assert [hit.node.node_id for hit in hits] == ["n2", "n0"]
    assert [hit.score for hit in hits] == [1.0, 0.5]
    assert "lake and orchard" in script.root_prompts[0]
    assert "[passage 2]" in script.root_prompts[1]


async def test_base_retriever_candidates_async_and_similarity_top_k() -> None:
    llm, _ = scripted_llm([code("print(peek(200))"), "FINAL: 2, 1"])
    retriever = RLMRetriever(llm=llm, retriever=KeywordRetriever(NODES), similarity_top_k=1)

    hits = await retriever.aretrieve("the launch code")

    # candidates come from the keyword retriever in its order (n1 first); the run picked #2
    assert len(hits) == 1 and hits[0].score == 1.0
    assert hits[0].node.node_id != "n1"


def test_no_candidates_returns_empty_without_a_run() -> None:
    llm, script = scripted_llm([])
    retriever = RLMRetriever(llm=llm, retriever=KeywordRetriever(NODES))
    assert retriever.retrieve("zebra") == []
    assert script.root_prompts == []


def test_errors_name_the_fix() -> None:
    llm, _ = scripted_llm()
    with pytest.raises(ConfigError, match="exactly one source of candidates"):
        RLMRetriever(llm=llm)
    with pytest.raises(ConfigError, match="exactly one source"):
        RLMRetriever(llm=llm, nodes=NODES, retriever=KeywordRetriever(NODES))
    with pytest.raises(ConfigError, match="similarity_top_k"):
        RLMRetriever(llm=llm, nodes=NODES, similarity_top_k=0)
    with pytest.warns(DeprecationWarning, match="similarity_top_k"):
        assert RLMRetriever(llm=llm, nodes=NODES, top_k=2).similarity_top_k == 2
    with pytest.raises(ConfigError, match="BaseRetriever"):
        RLMRetriever(llm=llm, retriever=DOCS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "chosen"),
    [
        ("[2, 2, 0, 9, 1]", [1, 0]),
        ("none", []),
        ("[]", []),
        (str([TextNode(text="x").text]), []),
        ("top 3 are 5 and 1", [4, 0]),
        ("The 2 relevant passages are #4 and #2", [3, 1]),
        ("I found 3 passages: 6, 2, 1", [5, 1, 0]),
        ("passages 5 and 1 (2 of them)", [4, 0]),
        ("Passage 3 scores 0.9, then [passage 1]", [2, 0]),
        ("the best are 3 then 1; answer: [5, 1]", [4, 0]),
        ("2, 1", [1, 0]),
    ],
)
def test_parse_selection_reads_ids_not_counts(answer: str, chosen: list[int]) -> None:
    assert parse_selection(answer, 6) == chosen


def test_a_prose_answer_picks_the_named_passages() -> None:
    llm, _ = scripted_llm([code("print(peek(300))"), "FINAL: the top 2 are 3 and 1"])
    hits = RLMRetriever(llm=llm, nodes=NODES).retrieve("lake and orchard")
    assert [hit.node.node_id for hit in hits] == ["n2", "n0"]
