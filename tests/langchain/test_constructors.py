"""Constructor keywords: the root model may be positional, RLM options may be keywords, and
any other name raises ``ConfigError`` naming what it probably meant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import ConfigurableField

from rlm_core import ConfigError
from rlm_langchain import ChatRLM, LLMReranker, RLMRetriever, RLMRunnable

from .conftest import CONTEXT, DOCS, Recorder, scripted

FRENCH = "Answer in French."


def _system_texts(recorder: Recorder) -> list[str]:
    return [m.text for prompt in recorder.prompts.values() for m in prompt if m.type == "system"]


def test_chat_model_takes_rlm_options_as_keywords(recorder: Recorder) -> None:
    chat = ChatRLM(
        llm=scripted("FINAL: 4711"), context=CONTEXT, parallel_subcalls=True, system_prompt=FRENCH
    )
    assert chat.rlm_options == {"parallel_subcalls": True, "system_prompt": FRENCH}
    assert chat.invoke("Vault code?", config={"callbacks": [recorder]}).text == "4711"
    assert any(FRENCH in text for text in _system_texts(recorder))


def test_retriever_takes_rlm_options_as_keywords() -> None:
    retriever = RLMRetriever(llm=scripted("x"), documents=DOCS, parallel_subcalls=True)
    assert retriever.rlm_options == {"parallel_subcalls": True}


BuildWith = Callable[[dict[str, Any]], Any]
BUILDERS: dict[str, BuildWith] = {
    "RLMRunnable": lambda kw: RLMRunnable(llm=scripted("x"), context=CONTEXT, **kw),
    "ChatRLM": lambda kw: ChatRLM(llm=scripted("x"), context=CONTEXT, **kw),
    "RLMRetriever": lambda kw: RLMRetriever(llm=scripted("x"), documents=DOCS, **kw),
    "LLMReranker": lambda kw: LLMReranker(llm=scripted("x"), **kw),
}


UNKNOWN = "got an unknown keyword"


@pytest.mark.parametrize(
    ("owner", "keywords", "message"),
    [
        ("ChatRLM", {"contxt": CONTEXT}, f"ChatRLM {UNKNOWN} 'contxt' (did you mean 'context'?)"),
        (
            "ChatRLM",
            {"paralel_subcalls": True},
            "unknown RLM option 'paralel_subcalls' (did you mean 'parallel_subcalls'?)",
        ),
        ("ChatRLM", {"max_steps": 3}, "pass policy=Policy(max_steps=...)"),
        (
            "RLMRunnable",
            {"return_traces": True},
            f"RLMRunnable {UNKNOWN} 'return_traces' (did you mean 'return_trace'?)",
        ),
        (
            "RLMRetriever",
            {"retriever": DOCS},
            f"RLMRetriever {UNKNOWN} 'retriever' (did you mean 'base_retriever'?)",
        ),
        ("RLMRetriever", {"max_step": 2}, "did you mean policy=Policy(max_steps=...)?"),
        ("LLMReranker", {"top_k": 2}, f"LLMReranker {UNKNOWN} 'top_k' (did you mean 'top_n'?)"),
        ("LLMReranker", {"parallel_subcalls": True}, f"LLMReranker {UNKNOWN} 'parallel_subcalls'"),
    ],
)
def test_unknown_keywords_raise_config_error(
    owner: str, keywords: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        BUILDERS[owner](keywords)
    assert message in str(caught.value)


def test_the_root_model_may_be_positional() -> None:
    assert RLMRunnable(scripted("FINAL: 4711"), context=CONTEXT).invoke("Vault code?") == "4711"
    assert ChatRLM(scripted("FINAL: 4711"), context=CONTEXT).invoke("Vault code?").text == "4711"
    reranker = LLMReranker(scripted("[2] > [1]"), top_n=1)
    documents = [Document(page_content="gulls"), Document(page_content="vault code 4711")]
    assert reranker.compress_documents(documents, "vault code") == [documents[1]]


def test_positional_use_is_checked_and_keyword_copies_still_work() -> None:
    with pytest.raises(TypeError, match=r"one positional argument, the root model \(llm\), got 2"):
        ChatRLM(scripted("x"), scripted("y"), context=CONTEXT)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="got the root model twice"):
        LLMReranker(scripted("x"), llm=scripted("y"))  # type: ignore[call-arg]
    chat = ChatRLM(scripted("FINAL: 4711"), context=CONTEXT).configurable_fields(
        context=ConfigurableField(id="text")
    )
    reply = chat.invoke("Code?", config={"configurable": {"text": "The code is 4711."}})
    assert reply.text == "4711"
