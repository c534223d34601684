"""Empty retrieval results, per-call keyword options and ``.bind``."""

from __future__ import annotations

import pytest
from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnablePassthrough

from rlm_langchain import ChatRLM, RLMResult, RLMRunnable

from .conftest import CONTEXT, DOCS, KeywordRetriever, Recorder, fenced, scripted

GREP = fenced("print(grep('vault code', window=20))")


def test_a_rag_chain_whose_retriever_finds_nothing_answers_normally(recorder: Recorder) -> None:
    root = scripted(GREP, "FINAL: never used")
    chain = {"query": RunnablePassthrough(), "context": KeywordRetriever(documents=DOCS)} | (
        RLMRunnable(llm=root, return_trace=True)
    )
    result = chain.invoke("zyzzyva quokka", config={"callbacks": [recorder]})
    assert isinstance(result, RLMResult)
    assert result.answer.startswith("Nothing was found")
    assert result.documents == [] and len(result.trace) == 0
    assert recorder.of("chat") == []  # no model was asked about nothing
    assert root.i == 0


async def test_empty_context_streams_the_nothing_found_answer() -> None:
    rlm = RLMRunnable(llm=scripted("unused"))
    chunks = [chunk async for chunk in rlm.astream({"query": "q", "context": []})]
    assert chunks[-1].startswith("Nothing was found")


def test_chat_rlm_over_an_empty_context_answers_normally() -> None:
    chat = ChatRLM(llm=scripted("unused"), context=[])
    assert chat.invoke("anything?").text.startswith("Nothing was found")
    assert "".join(c.text for c in chat.stream("anything?")).startswith("Nothing was found")


def test_invoke_keyword_options_apply_to_that_call(recorder: Recorder) -> None:
    rlm = RLMRunnable(llm=scripted(GREP, "FINAL: 4711"), context=CONTEXT)
    answer = rlm.invoke(
        "code?", config={"callbacks": [recorder]}, system_prompt="Custom prompt. {helpers}"
    )
    assert answer == "4711"
    first = next(iter(recorder.prompts.values()))
    assert first[0].content.startswith("Custom prompt.")


def test_bind_sets_options_for_every_call(recorder: Recorder) -> None:
    rlm = RLMRunnable(llm=scripted(GREP, "FINAL: 4711"), context=CONTEXT)
    bound = rlm.bind(system_prompt="Bound prompt. {helpers}")
    assert bound.invoke("code?", config={"callbacks": [recorder]}) == "4711"
    assert "".join(bound.stream("code?")) == "4711"
    first = next(iter(recorder.prompts.values()))
    assert first[0].content.startswith("Bound prompt.")


def test_chat_rlm_invoke_and_bind_take_rlm_options(recorder: Recorder) -> None:
    chat = ChatRLM(llm=scripted(GREP, "FINAL: 4711"), context=CONTEXT)
    reply = chat.bind(system_prompt="Bound prompt. {helpers}").invoke(
        "code?", config={"callbacks": [recorder]}
    )
    assert reply.text == "4711"
    root_prompts = [p for p in recorder.prompts.values() if isinstance(p[0], SystemMessage)]
    assert root_prompts[1][0].content.startswith("Bound prompt.")
    assert chat.invoke("code?", max_tokens=64).text == "4711"


def test_unknown_keyword_options_name_the_fix() -> None:
    rlm = RLMRunnable(llm=scripted("FINAL: x"), context=CONTEXT)
    with pytest.raises(ValueError, match="unknown RLM option 'max_step'"):
        rlm.invoke("q", max_step=3)
    with pytest.raises(ValueError, match="unknown RLM option 'max_step'"):
        ChatRLM(llm=scripted("FINAL: x"), context=CONTEXT).invoke("q", max_step=3)
