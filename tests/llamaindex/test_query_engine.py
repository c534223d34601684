"""RLMQueryEngine: construction, query / aquery, sources, metadata, streaming, errors."""

from __future__ import annotations

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response

from rlm_core import Policy
from rlm_core.errors import ConfigError, ContextError
from rlm_llamaindex import RLMQueryEngine

from .helpers import DOCS, code, scripted_llm, usage_llm

PAD = " filler" * 60  # keeps grep windows inside one document
LONG_DOCS = [doc + PAD for doc in DOCS]
GREP_AND_ASK = code(
    'hits = grep("launch code", window=40)\n'
    "print(hits)\n"
    'print(llm_query("What is the launch code? " + hits[0]))'
)


def test_is_a_llamaindex_query_engine() -> None:
    names_of_base_classes = [b.__name__ for b in RLMQueryEngine.__mro__]
    assert BaseQueryEngine.__name__ in names_of_base_classes


def test_query_answers_with_sources_and_metadata() -> None:
    llm, script = scripted_llm([GREP_AND_ASK, "FINAL: 7319"], sub="7319")
    docs = [Document(text=text, metadata={"n": i}) for i, text in enumerate(LONG_DOCS)]
    engine = RLMQueryEngine.from_documents(docs, llm=llm)

    response = engine.query("What is the launch code?")

    assert isinstance(response, Response)
    assert response.response == "7319"
    assert [hit.node.metadata["n"] for hit in response.source_nodes] == [1]
    assert response.source_nodes[0].score == 1.0
    assert response.metadata["trace"]["answer"] == "7319"
    assert response.metadata["root_steps"] == 2
    assert response.metadata["subcalls"] == 1
    assert response.metadata["steps"] == len(response.metadata["trace"]["steps"]) == 4
    assert "Heron is 7319" in script.sub_prompts[0]


async def test_aquery_awaits_the_llm_natively() -> None:
    llm, script = scripted_llm([GREP_AND_ASK, "FINAL: 7319"], sub="7319")
    engine = RLMQueryEngine(llm=llm, documents=LONG_DOCS)

    response = await engine.aquery("What is the launch code?")

    assert str(response) == "7319"
    assert len(script.root_prompts) == 2 and len(script.sub_prompts) == 1
    assert response.source_nodes[0].node.get_content().startswith("Beta memo")


def test_sub_llm_serves_the_sub_calls() -> None:
    root, root_script = scripted_llm([GREP_AND_ASK, "FINAL: done"])
    sub, sub_script = scripted_llm(sub="from the sub model")
    engine = RLMQueryEngine(llm=root, sub_llm=sub, documents=LONG_DOCS)

    engine.query("What is the launch code?")

    assert root_script.sub_prompts == []
    assert len(sub_script.sub_prompts) == 1


def test_usage_reported_by_the_llm_lands_in_metadata() -> None:
    llm, _ = usage_llm([code("print(lenP())"), "FINAL: ok"])
    response = RLMQueryEngine(llm=llm, documents=DOCS).query("How long?")
    assert response.metadata["usage"] == {
        "prompt_tokens": 22,
        "completion_tokens": 14,
        "total_tokens": 36,
    }


def test_settings_llm_is_the_default() -> None:
    llm, script = scripted_llm([code("print(peek(20))"), "FINAL: from settings"])
    Settings.llm = llm
    assert RLMQueryEngine(documents=DOCS).query("q").response == "from settings"
    assert len(script.root_prompts) == 2


def test_rlm_options_are_passed_and_validated_early() -> None:
    llm, _ = scripted_llm([code("print(1)")] * 2 + ["FINAL: best guess"])
    engine = RLMQueryEngine(llm=llm, documents=DOCS, policy=Policy(max_steps=2))
    assert engine.query("q").response == "best guess"  # finalized at the step limit

    with pytest.raises(ConfigError, match="max_output_tokens"):
        RLMQueryEngine(llm=llm, documents=DOCS, max_output_tokens=0)
    with pytest.raises(ConfigError, match=r"unknown RLM option.*'max_stepz'"):
        RLMQueryEngine(llm=llm, documents=DOCS, max_stepz=3)
    with pytest.raises(ConfigError, match="pass sub_llm="):
        RLMQueryEngine(llm=llm, documents=DOCS, subcall_adapter=object())


def test_no_llm_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IS_TESTING", raising=False)
    Settings._llm = None
    with pytest.raises(
        ConfigError, match=r"no LLM configured: pass llm=\.\.\. or set Settings\.llm"
    ):
        RLMQueryEngine(documents=DOCS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"documents": []}, "documents is empty"),
        ({"documents": "one text"}, r"documents must be a list, got one str; wrap it"),
        ({"documents": [Document(text="")]}, "every document is empty"),
        ({"documents": [1, 2]}, r"documents\[0\] is int"),
        ({}, "nothing to search: pass documents="),
        ({"documents": DOCS, "retriever": "index"}, "retriever must be a LlamaIndex BaseRetriever"),
        ({"documents": DOCS, "llm": "gpt-4o"}, "llm must be a LlamaIndex LLM"),
        ({"documents": DOCS, "callback_manager": []}, "callback_manager must be"),
    ],
)
def test_bad_input_names_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ConfigError, ContextError), match=message):
        RLMQueryEngine(**kwargs)


def test_from_index_rejects_non_index() -> None:
    with pytest.raises(ConfigError, match="from_documents"):
        RLMQueryEngine.from_index(DOCS)  # type: ignore[arg-type]


def test_from_index_searches_and_reads_nodes() -> None:
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])
    llm, script = scripted_llm(
        [
            code(
                'hits = es_search("launch code", top_k=3)\n'
                "best = [h for h in hits if 'Heron' in h['preview']][0]\n"
                "doc = es_get(best['doc_id'])\n"
                "print(doc['content'])"
            ),
            "FINAL: 7319",
        ]
    )
    engine = RLMQueryEngine.from_index(index, llm=llm, similarity_top_k=3)

    response = engine.query("What is the launch code?")

    assert response.response == "7319"
    assert "Heron is 7319" in script.root_prompts[1]
    first = response.source_nodes[0]
    assert "Heron" in first.node.get_content()
    assert len(response.source_nodes) == 3  # the one read whole, then the other hits
    assert all(hit.score is not None for hit in response.source_nodes)


def test_from_defaults_over_documents_or_an_index() -> None:
    llm, _ = scripted_llm([GREP_AND_ASK, "FINAL: 7319"], sub="7319")
    engine = RLMQueryEngine.from_defaults(llm=llm, documents=LONG_DOCS, max_output_tokens=256)
    assert engine.query("What is the launch code?").response == "7319"
    assert llm.calls_kwargs[0]["max_tokens"] == 256

    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])
    llm, script = scripted_llm(
        [code('print([h["doc_id"] for h in es_search("launch", top_k=3)])'), "FINAL: ok"]
    )
    engine = RLMQueryEngine.from_defaults(llm=llm, index=index, similarity_top_k=3)
    assert engine.query("q").response == "ok"
    assert script.root_prompts[1].count("', '") == 2  # three hits, not LlamaIndex's default 2

    with pytest.raises(ConfigError, match="not both"):
        RLMQueryEngine.from_defaults(llm=llm, index=index, retriever=index.as_retriever())
    with pytest.raises(ConfigError, match="index must be a LlamaIndex index"):
        RLMQueryEngine.from_defaults(llm=llm, index=DOCS)  # type: ignore[arg-type]
