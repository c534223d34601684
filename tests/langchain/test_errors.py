"""Bad input fails early with an error that names the fix."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import SystemMessage

from rlm_langchain import RLMRunnable

from .conftest import CONTEXT, scripted


def test_non_chat_model() -> None:
    with pytest.raises(TypeError, match="chat model"):
        RLMRunnable(llm=FakeListLLM(responses=["x"]), context=CONTEXT)
    with pytest.raises(TypeError, match="sub_llm must be a LangChain chat model"):
        RLMRunnable(llm=scripted("x"), sub_llm="small-model", context=CONTEXT)


def test_missing_llm() -> None:
    with pytest.raises(ValueError, match="needs llm="):
        RLMRunnable(context=CONTEXT)


def test_input_dict_without_query() -> None:
    rlm = RLMRunnable(llm=scripted("FINAL: x"), context=CONTEXT)
    with pytest.raises(ValueError, match=r"no 'query' key .*'question'"):
        rlm.invoke({"question": "q"})


def test_wrong_context_types() -> None:
    with pytest.raises(
        TypeError, match="context must be a str, a list of str or a list of Document"
    ):
        RLMRunnable(llm=scripted("x"), context=42)
    rlm = RLMRunnable(llm=scripted("FINAL: x"))
    with pytest.raises(TypeError, match=r"context\[1\] is int"):
        rlm.invoke({"query": "q", "context": ["ok", 3]})


def test_no_context_anywhere() -> None:
    with pytest.raises(ValueError, match="no context to search"):
        RLMRunnable(llm=scripted("FINAL: x")).invoke("q")


def test_bad_inputs() -> None:
    rlm = RLMRunnable(llm=scripted("FINAL: x"), context=CONTEXT)
    with pytest.raises(TypeError, match="cannot take a int input"):
        rlm.invoke(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="query is empty"):
        rlm.invoke("  ")


@pytest.mark.parametrize("value", [[], [SystemMessage("Be brief.")], {"query": []}])
async def test_a_message_list_without_a_question_says_so(value: object) -> None:
    rlm = RLMRunnable(llm=scripted("FINAL: x"), context=CONTEXT)
    needs = r"RLMRunnable needs a non-empty user \(human\) message"
    with pytest.raises(ValueError, match=needs):
        rlm.invoke(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=needs):
        await rlm.ainvoke(value)  # type: ignore[arg-type]


def test_rlm_options_are_validated_early() -> None:
    with pytest.raises(ValueError, match="unknown RLM option 'max_step'"):
        RLMRunnable(llm=scripted("x"), context=CONTEXT, max_step=3)
    with pytest.raises(ValueError, match="pass sub_llm="):
        RLMRunnable(llm=scripted("x"), context=CONTEXT, subcall_adapter=object())
    with pytest.raises(ValueError, match="temperature must be between 0 and 2"):
        RLMRunnable(llm=scripted("x"), context=CONTEXT, temperature=5)
    with pytest.raises(TypeError, match="retriever must be"):
        RLMRunnable(llm=scripted("x"), retriever="index")
