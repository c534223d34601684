"""``get_prompts`` / ``update_prompts`` and plain ``Response.metadata``."""

from __future__ import annotations

import json

import pytest
from llama_index.core.prompts import PromptTemplate

from rlm_core import BASE_SYSTEM_PROMPT, Trace
from rlm_core.errors import ConfigError
from rlm_llamaindex import RLMQueryEngine, RLMRetriever

from .helpers import DOCS, code, scripted_llm
from .test_adapters import NODES


def test_metadata_is_plain_data_that_rebuilds_the_trace() -> None:
    llm, _ = scripted_llm([code('print(llm_query("x"))'), "FINAL: done"], sub="y")
    response = RLMQueryEngine(llm=llm, documents=DOCS).query("q")

    metadata = response.metadata
    assert metadata is not None
    assert json.loads(json.dumps(metadata)) == metadata
    trace = Trace.from_json(json.dumps(metadata["trace"]))
    assert [step.kind for step in trace.steps] == ["root_call", "repl_exec", "subcall", "root_call"]
    assert metadata["steps"] == 4 and metadata["subcalls"] == 1


def test_system_prompt_is_exposed_and_an_edit_is_used() -> None:
    llm, script = scripted_llm([code("print(1)"), "FINAL: a", code("print(2)"), "FINAL: b"])
    engine = RLMQueryEngine(llm=llm, documents=DOCS)

    prompts = engine.get_prompts()
    assert prompts["system_prompt"].get_template() == BASE_SYSTEM_PROMPT
    engine.query("first")
    assert script.root_systems[0].startswith(BASE_SYSTEM_PROMPT[:40])

    engine.update_prompts(
        {"system_prompt": PromptTemplate("Terse reader. Helpers:\n{helpers}\nFINAL: <answer>")}
    )
    engine.query("second")

    edited = script.root_systems[2]
    assert edited.startswith("Terse reader. Helpers:\n")
    assert "grep(" in edited and "{helpers}" not in edited  # the engine filled it in
    assert engine.get_prompts()["system_prompt"].get_template().startswith("Terse reader.")


def test_retriever_prompts_are_editable() -> None:
    llm, script = scripted_llm([code("print(peek(50))"), "FINAL: [1]"])
    retriever = RLMRetriever(llm=llm, nodes=NODES)
    assert set(retriever.get_prompts()) == {"system_prompt", "select_prompt"}

    retriever.update_prompts(
        {"select_prompt": "Among {count} passages pick ids for: {query}. FINAL: [ids]"}
    )
    retriever.retrieve("orchards")

    assert script.root_prompts[0].startswith("Question: Among 3 passages pick ids for: orchards.")


def test_a_bad_prompt_is_a_clear_error() -> None:
    engine = RLMQueryEngine(llm=scripted_llm()[0], documents=DOCS)
    with pytest.raises(ConfigError, match="'system_prompt' must be a PromptTemplate or str"):
        engine.update_prompts({"system_prompt": 42})  # type: ignore[dict-item]
