"""``FunctionAgent`` and ``ReActAgent`` (llama-index-core workflows) using an RLM engine tool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ReActAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import QueryEngineTool

from rlm_llamaindex import RLMQueryEngine

from .helpers import DOCS, code, scripted_llm

QUESTION = "What is the launch code of project Heron?"


def _tool(streaming: bool = False) -> tuple[QueryEngineTool, Any]:
    llm, script = scripted_llm([code('print(grep("launch code", window=40))'), "FINAL: 7319"])
    engine = RLMQueryEngine.from_defaults(llm=llm, documents=DOCS, streaming=streaming)
    tool = QueryEngineTool.from_defaults(
        engine, name="memos", description="Answers questions about internal memos."
    )
    return tool, script


class AgentScript:
    """The agent model: asks the tool first, then answers from the tool's output."""

    def __init__(self, first: ChatMessage) -> None:
        self.first = first
        self.tool_outputs: list[str] = []

    def __call__(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        tool_turns = [m for m in messages if m.role == MessageRole.TOOL]
        observations = [m for m in messages if str(m.content or "").startswith("Observation:")]
        done = tool_turns or observations
        if not done:
            return self.first
        seen = str((tool_turns or observations)[-1].content)
        self.tool_outputs.append(seen)
        if tool_turns:
            return ChatMessage(role=MessageRole.ASSISTANT, content=f"The code is {seen}.")
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            content="Thought: I can answer now.\nAnswer: The code is 7319.",
        )


@pytest.mark.parametrize("streaming", [False, True])
async def test_function_agent_calls_the_rlm_tool(streaming: bool) -> None:
    tool, engine_script = _tool(streaming)
    call = ToolCallBlock(tool_call_id="call-1", tool_name="memos", tool_kwargs={"input": QUESTION})
    script = AgentScript(ChatMessage(role=MessageRole.ASSISTANT, blocks=[call]))
    agent_llm = MockFunctionCallingLLM(response_generator=script, is_chat_model=True)
    agent = FunctionAgent(tools=[tool], llm=agent_llm, system_prompt="Use the tools.")

    handler = agent.run(user_msg=QUESTION)
    results = [
        event async for event in handler.stream_events() if isinstance(event, ToolCallResult)
    ]
    output = await handler

    assert isinstance(output, AgentOutput)
    assert str(output.response.content) == "The code is 7319."
    assert [r.tool_name for r in results] == ["memos"]
    assert results[0].tool_output.content == "7319"
    assert QUESTION in engine_script.root_prompts[0]  # the RLM answered the agent's question
    assert script.tool_outputs == ["7319"]


async def test_react_agent_calls_the_rlm_tool() -> None:
    tool, engine_script = _tool()
    first = ChatMessage(
        role=MessageRole.ASSISTANT,
        content=(
            "Thought: I need the memos to answer.\n"
            "Action: memos\n"
            f'Action Input: {{"input": "{QUESTION}"}}'
        ),
    )
    script = AgentScript(first)
    agent_llm = MockFunctionCallingLLM(response_generator=script, is_chat_model=True)
    agent = ReActAgent(tools=[tool], llm=agent_llm)

    output = await agent.run(user_msg=QUESTION)

    assert str(output.response.content) == "The code is 7319."
    assert "7319" in script.tool_outputs[0]
    assert QUESTION in engine_script.root_prompts[0]
