"""RLMQueryEngine inside LlamaIndex: as a tool, behind a router, under sub-questions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.query_engine import RouterQueryEngine, SubQuestionQueryEngine
from llama_index.core.question_gen import LLMQuestionGenerator
from llama_index.core.selectors import LLMSingleSelector
from llama_index.core.tools import QueryEngineTool

from rlm_llamaindex import RLMQueryEngine

from .helpers import DOCS, code, last_text, scripted_llm

FIND_CODE = code('print(grep("launch code", window=30))')


def _engine() -> RLMQueryEngine:
    llm, _ = scripted_llm([FIND_CODE, "FINAL: 7319"])
    return RLMQueryEngine.from_documents(DOCS, llm=llm)


def _llm(reply: Any) -> MockFunctionCallingLLM:
    def generate(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        return ChatMessage(role=MessageRole.ASSISTANT, content=reply(last_text(messages)))

    return MockFunctionCallingLLM(response_generator=generate, is_chat_model=True)


def test_query_engine_tool_calls_the_engine() -> None:
    tool = QueryEngineTool.from_defaults(
        _engine(), name="memos", description="Internal memos and reports."
    )
    output = tool.call("What is the launch code?")
    assert output.content == "7319"
    assert output.raw_output.source_nodes[0].node.get_content().startswith("Beta memo")


async def test_query_engine_tool_async() -> None:
    tool = QueryEngineTool.from_defaults(_engine(), name="memos", description="Memos.")
    output = await tool.acall("What is the launch code?")
    assert output.content == "7319"


def test_router_picks_the_rlm_engine() -> None:
    selector = LLMSingleSelector.from_defaults(
        llm=_llm(lambda _: json.dumps([{"choice": 2, "reason": "memos hold codes"}]))
    )
    other_llm, other = scripted_llm(["FINAL: wrong engine"])
    tools = [
        QueryEngineTool.from_defaults(
            RLMQueryEngine(llm=other_llm, documents=["weather"]),
            name="weather",
            description="Weather notes.",
        ),
        QueryEngineTool.from_defaults(_engine(), name="memos", description="Memos."),
    ]
    router = RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=other_llm)

    response = router.query("What is the launch code?")

    assert str(response) == "7319"
    assert other.root_prompts == []


def test_sub_question_engine_uses_the_rlm_engine() -> None:
    def reply(prompt: str) -> str:
        if "sub_question" in prompt:
            items = [{"sub_question": "What is the launch code?", "tool_name": "memos"}]
            return "```json\n" + json.dumps({"items": items}) + "\n```"
        assert "7319" in prompt  # the synthesis sees the RLM's answer
        return "The launch code is 7319."

    llm = _llm(reply)
    tool = QueryEngineTool.from_defaults(_engine(), name="memos", description="Memos.")
    engine = SubQuestionQueryEngine.from_defaults(
        query_engine_tools=[tool],
        llm=llm,
        question_gen=LLMQuestionGenerator.from_defaults(llm=llm),
        use_async=False,
    )

    response = engine.query("Tell me the launch code")

    assert str(response) == "The launch code is 7319."
