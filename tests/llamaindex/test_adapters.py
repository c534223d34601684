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

from .helpers import DOCS, ScriptedLLM, code, scripted_llm, usage_llm

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


@pytest.mark.parametrize("stream_calls", [True, False])
async def test_usage_is_read_streamed_or_not(stream_calls: bool) -> None:
    llm, _ = usage_llm(sub="async hi")
    adapter = LlamaIndexLLMAdapter(llm, stream_calls=stream_calls)
    for response in (
        await adapter.acomplete(MESSAGES, max_tokens=10),
        adapter.complete(MESSAGES, max_tokens=10),
    ):
        assert response.text == "async hi"
        assert response.usage == Usage(prompt_tokens=11, completion_tokens=7)


def test_limits_reach_the_llm_unless_it_sets_its_own() -> None:
    llm, _ = scripted_llm(sub="ok")
    LlamaIndexLLMAdapter(llm).complete(MESSAGES, max_tokens=5, temperature=0.3)
    assert llm.calls_kwargs[-1] == {"max_tokens": 5, "temperature": 0.3}

    LlamaIndexLLMAdapter(llm, forward_limits=False).complete(MESSAGES, max_tokens=5)
    assert llm.calls_kwargs[-1] == {}

    own, _ = scripted_llm(sub="ok", temperature=0.7, max_tokens=64)
    LlamaIndexLLMAdapter(own).complete(MESSAGES, max_tokens=5, temperature=0.3)
    assert own.calls_kwargs[-1] == {}


class IgnoresMaxTokens(ScriptedLLM):
    """Generates forever, whatever ``max_tokens`` says, and records how far it got."""

    produced: int = 0
    closed: bool = False

    def stream_chat(self, messages: Any, **kwargs: Any) -> Any:
        def endless() -> Any:
            try:
                while True:
                    self.produced += 1
                    yield ChatResponse(
                        message=ChatMessage(role=MessageRole.ASSISTANT, content="tok"),
                        delta="tok ",
                    )
            finally:
                self.closed = True

        return endless()

    async def astream_chat(self, messages: Any, **kwargs: Any) -> Any:
        sync = self.stream_chat(messages, **kwargs)

        async def endless() -> Any:
            try:
                for chunk in sync:
                    yield chunk
            finally:
                sync.close()

        return endless()


async def test_a_call_stops_at_its_cap_when_the_llm_ignores_it() -> None:
    llm = IgnoresMaxTokens(is_chat_model=True)
    adapter = LlamaIndexLLMAdapter(llm)

    response = adapter.complete(MESSAGES, max_tokens=20)

    assert response.text == "tok " * 20
    assert llm.produced == 21 and llm.closed  # the stream (and its connection) is closed
    llm.produced, llm.closed = 0, False
    assert (await adapter.acomplete(MESSAGES, max_tokens=7)).text == "tok " * 7
    assert llm.produced == 8 and llm.closed


def test_an_llm_without_per_call_limits_gets_a_clear_error() -> None:
    class Strict(ScriptedLLM):
        def stream_chat(self, messages: Any) -> Any:  # type: ignore[override]
            raise AssertionError("unreachable")

    with pytest.raises(AdapterError, match="forward_limits=False"):
        LlamaIndexLLMAdapter(Strict(is_chat_model=True)).complete(MESSAGES, max_tokens=5)


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
