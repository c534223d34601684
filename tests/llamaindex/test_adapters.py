"""LlamaIndexLLMAdapter and LlamaIndexRetrieverAdapter against real LlamaIndex classes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rlm_core import RLM
from rlm_core.adapters.base import ModelResponse, Usage
from rlm_core.errors import AdapterError, ConfigError
from rlm_llamaindex import LlamaIndexLLMAdapter, LlamaIndexRetrieverAdapter, usage_of

from .helpers import DOCS, UsageLLM, code, scripted_llm

MESSAGES = [
    {"role": "system", "content": "You are a sub-LLM. Be brief."},
    {"role": "user", "content": "Say hi"},
]


def test_complete_and_acomplete_return_model_responses() -> None:
    llm, script = scripted_llm(sub="hi there")
    adapter = LlamaIndexLLMAdapter(llm)
    response = adapter.complete(MESSAGES, max_tokens=10, temperature=0.0)
    assert response == ModelResponse(text="hi there", usage=Usage(), model=None)
    assert script.sub_prompts == ["Say hi"]
    assert adapter.context_window == llm.metadata.context_window


async def test_acomplete_uses_achat() -> None:
    llm = UsageLLM(response_generator=scripted_llm(sub="async hi")[1], is_chat_model=True)
    response = await LlamaIndexLLMAdapter(llm).acomplete(MESSAGES, max_tokens=10)
    assert response.text == "async hi"
    assert response.usage == Usage(prompt_tokens=11, completion_tokens=7)


def test_forward_limits_passes_max_tokens_and_temperature() -> None:
    seen: dict[str, Any] = {}

    def generate(messages: Any, **kwargs: Any) -> ChatMessage:
        seen.update(kwargs)
        return ChatMessage(role=MessageRole.ASSISTANT, content="ok")

    llm = scripted_llm()[0]
    llm.response_generator = generate
    LlamaIndexLLMAdapter(llm).complete(MESSAGES, max_tokens=5)
    assert seen == {}
    LlamaIndexLLMAdapter(llm, forward_limits=True).complete(MESSAGES, max_tokens=5, temperature=0.3)
    assert seen == {"max_tokens": 5, "temperature": 0.3}


@pytest.mark.parametrize(
    ("raw", "extra", "expected"),
    [
        (None, {"prompt_tokens": 3, "completion_tokens": 4}, (3, 4)),
        ({"usage": {"prompt_tokens": 5, "completion_tokens": 6}}, {}, (5, 6)),
        (SimpleNamespace(usage=SimpleNamespace(input_tokens=7, output_tokens=8)), {}, (7, 8)),
        ({"usage_metadata": {"prompt_token_count": 9, "candidates_token_count": 1}}, {}, (9, 1)),
        ({"prompt_eval_count": 2, "eval_count": 3}, {}, (2, 3)),
        ({"content": "no usage here"}, {}, (0, 0)),
    ],
)
def test_usage_is_mapped_from_raw_or_additional_kwargs(
    raw: Any, extra: dict[str, int], expected: tuple[int, int]
) -> None:
    response = ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, content="x"),
        raw=raw,
        additional_kwargs=extra,
    )
    assert usage_of(response) == Usage(*expected)


def test_adapter_errors_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="LlamaIndex LLM"):
        LlamaIndexLLMAdapter(object())
    adapter = LlamaIndexLLMAdapter(scripted_llm()[0])
    with pytest.raises(AdapterError, match="expected 'system', 'user' or 'assistant'"):
        adapter.complete([{"role": "tool", "content": "x"}])


def test_adapter_drives_a_plain_rlm() -> None:
    llm, _ = scripted_llm([code("print(lenP())"), "FINAL: 5"])
    answer, trace = RLM(LlamaIndexLLMAdapter(llm)).run("How long?", "abcde")
    assert answer == "5" and "5" in (trace.of_kind("repl_exec")[0].stdout or "")


class KeywordRetriever(BaseRetriever):
    """A real BaseRetriever: nodes containing the query's words, scored by overlap."""

    def __init__(self, nodes: list[TextNode]) -> None:
        self.nodes = nodes
        super().__init__()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        words = set(query_bundle.query_str.lower().split())
        scored = [
            NodeWithScore(node=n, score=len(words & set(n.text.lower().split())) / len(words))
            for n in self.nodes
        ]
        return sorted([s for s in scored if s.score], key=lambda s: -(s.score or 0))


NODES = [
    TextNode(text=text, id_=f"n{i}", metadata={"kind": "memo" if i == 1 else "note"})
    for i, text in enumerate(DOCS)
]


def test_retriever_adapter_search_get_and_filters() -> None:
    adapter = LlamaIndexRetrieverAdapter(KeywordRetriever(NODES), preview_chars=20)

    hits = adapter.search("the launch code", top_k=2)
    assert hits[0]["doc_id"] == "n1"
    assert len(hits) == 2 and len(hits[0]["preview"]) == 20
    assert set(hits[0]) == {"doc_id", "preview", "score", "metadata"}
    assert [h["doc_id"] for h in adapter.search("the", filters={"kind": "memo"})] == ["n1"]
    assert adapter.vector_search("launch")[0]["doc_id"] == "n1"
    assert adapter.hybrid_search("launch", filters={"kind": ["note"]}) == []

    doc = adapter.get("n1")
    assert doc == {"doc_id": "n1", "content": DOCS[1], "metadata": {"kind": "memo"}}
    assert adapter.consulted()[0].node.node_id == "n1"
    with pytest.raises(KeyError, match="call es_search first"):
        adapter.get("missing")
    with pytest.raises(ValueError, match="top_k"):
        adapter.search("x", top_k=0)


def test_retriever_adapter_reads_the_docstore_and_rejects_wrong_types() -> None:
    index = VectorStoreIndex.from_documents(
        [Document(text=t, id_=f"d{i}") for i, t in enumerate(DOCS)]
    )
    adapter = LlamaIndexRetrieverAdapter(index.as_retriever(), docstore=index.docstore)
    node_id = next(iter(index.docstore.docs))
    assert adapter.get(node_id)["content"] in DOCS  # never searched: read from the docstore
    with pytest.raises(ConfigError, match="BaseRetriever"):
        LlamaIndexRetrieverAdapter(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="preview_chars"):
        LlamaIndexRetrieverAdapter(index.as_retriever(), preview_chars=0)
