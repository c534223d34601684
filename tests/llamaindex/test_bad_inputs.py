"""Inputs that used to be taken silently as something else get a clear error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage

from rlm_core import ConfigError, ContextError
from rlm_llamaindex import RLMLLM, RLMQueryEngine, RLMRetriever

from .helpers import scripted_llm

FILES = {"heron.txt": "The launch code for Heron is 7319."}


@pytest.mark.parametrize(
    "build",
    [
        lambda llm: RLMQueryEngine.from_documents(FILES, llm=llm),
        lambda llm: RLMQueryEngine(llm=llm, documents=FILES),
        lambda llm: RLMRetriever(llm=llm, nodes=FILES),
        lambda llm: RLMLLM(llm=llm, documents=FILES),
    ],
)
def test_a_mapping_of_documents_is_refused(build: Callable[[Any], Any]) -> None:
    llm, _ = scripted_llm()
    with pytest.raises(ContextError, match=r"got a dict \(only its keys would be read\)"):
        build(llm)


@pytest.mark.parametrize("value", ["no", 0, 1, None])
def test_streaming_must_be_a_bool(value: Any) -> None:
    llm, _ = scripted_llm()
    with pytest.raises(ConfigError, match="streaming must be True or False"):
        RLMQueryEngine.from_documents(["a text"], llm=llm, streaming=value)


@pytest.mark.parametrize(
    "call",
    [
        lambda rlm, messages: rlm.chat(messages),
        lambda rlm, messages: rlm.stream_chat(messages),
        lambda rlm, messages: asyncio.run(rlm.achat(messages)),
        lambda rlm, messages: asyncio.run(rlm.astream_chat(messages)),
    ],
    ids=["chat", "stream_chat", "achat", "astream_chat"],
)
@pytest.mark.parametrize(
    ("messages", "says"),
    [
        ("hello", "got str; pass \\[ChatMessage"),
        (["hello"], "message 0 is str"),
        ([ChatMessage(role="user", content="hi"), {"role": "user"}], "message 1 is dict"),
    ],
)
def test_rlmllm_chat_takes_chat_messages(
    call: Callable[[RLMLLM, Any], Any], messages: Any, says: str
) -> None:
    llm, script = scripted_llm()
    with pytest.raises(TypeError, match=f"RLMLLM chat methods take a list of ChatMessage.*{says}"):
        call(RLMLLM(llm=llm), messages)
    assert not script.root_prompts  # refused before any model call
