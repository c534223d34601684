"""Scripted stand-ins for ``langchain_openai`` used when docs/langchain.md runs as a test.

``ChatOpenAI`` here is a real LangChain chat model that answers by rule, the way the
engine's prompts expect: a first root step writes code that looks at the data, a step
after REPL output answers with ``FINAL:`` from that output, a sub-call or a ranking
request gets a short reply. ``OpenAIEmbeddings`` is LangChain's deterministic fake.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

LOOK_AT_TEXT = "```python\nprint(P[:300])\n```"
SEARCH_INDEX = "```python\nfor hit in es_search(QUERY, top_k=2):\n    print(hit['preview'])\n```"


SCHEMA_HEADER = "The answer must be JSON matching this schema:\n"
SAMPLES = {"string": "A", "boolean": True, "integer": 1, "number": 1.0}


def _structured_answer(messages: list[BaseMessage]) -> str | None:
    """A JSON answer for a run with an output schema: a call of the first bound tool."""
    first = next((str(m.text) for m in messages if SCHEMA_HEADER in str(m.text)), None)
    if first is None:
        return None
    schema = json.loads(first.split(SCHEMA_HEADER, 1)[1].split("\n", 1)[0])
    description = schema.get("description", "")
    if "Tools: " not in description:
        return None
    (tool, *_) = json.loads(description.split("Tools: ", 1)[1])
    properties = (tool.get("parameters") or {}).get("properties") or {}
    args = {name: SAMPLES.get(spec.get("type"), "A") for name, spec in properties.items()}
    return json.dumps({"tool_calls": [{"name": tool["name"], "args": args}]})


def _reply_to(messages: list[BaseMessage]) -> str:
    system = str(messages[0].text) if messages else ""
    last = str(messages[-1].text)
    if system.startswith("You rank passages"):
        return "[2] > [1]"
    if system.startswith("You are a sub-LLM"):
        return "The passage answers it."
    if last.startswith("Question:"):
        return SEARCH_INDEX if "P is empty" in last else LOOK_AT_TEXT
    if last.startswith("REPL output:") and (structured := _structured_answer(messages)):
        return "FINAL: " + structured
    if last.startswith("REPL output:"):
        lines = [line.strip() for line in last.splitlines()[1:] if line.strip()]
        return "FINAL: " + (lines[0][:120] if lines else "nothing found")
    return "FINAL: done"


class ChatOpenAI(BaseChatModel):
    """A scripted chat model with ``ChatOpenAI``'s name and ``model`` field."""

    model: str = "gpt-4o"
    max_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "scripted-openai"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = AIMessage(
            content=_reply_to(messages), response_metadata={"model_name": self.model}
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)


class OpenAIEmbeddings(DeterministicFakeEmbedding):
    """LangChain's deterministic fake embeddings, under the OpenAI name."""

    size: int = 64


def fake_langchain_openai() -> types.ModuleType:
    """A ``langchain_openai`` module holding the scripted classes."""
    module = types.ModuleType("langchain_openai")
    module.ChatOpenAI = ChatOpenAI  # type: ignore[attr-defined]
    module.OpenAIEmbeddings = OpenAIEmbeddings  # type: ignore[attr-defined]
    return module


def install(monkeypatch: Any) -> None:
    """Put the fake module in ``sys.modules`` for the duration of a test."""
    monkeypatch.setitem(sys.modules, "langchain_openai", fake_langchain_openai())
