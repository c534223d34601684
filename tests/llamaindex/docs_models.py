"""A scripted stand-in for ``llama_index.llms.openai_like`` used when docs/llamaindex.md runs.

``OpenAILike`` here is a real LlamaIndex LLM that answers by rule, the way the engine's
prompts expect: a first root step (also of a later turn in a session) writes code that
looks at the data, a step after REPL output answers with ``FINAL:`` from that output (as
JSON filled from it when the run asks for a schema), a sub-call or a ranking request gets
a short reply, and a ReAct agent calls its first tool once, then answers.
"""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.mock import MockFunctionCallingLLM

LOOK_AT_TEXT = "```python\nprint(P[:300])\n```"
SCHEMA_MARK = "JSON matching this schema:\n"
SEARCH_INDEX = "```python\nfor hit in es_search(QUERY, top_k=2):\n    print(hit['preview'])\n```"


def _text(message: ChatMessage) -> str:
    return str(message.content or "")


def _react(messages: Sequence[ChatMessage]) -> str:
    observations = [_text(m) for m in messages if _text(m).startswith("Observation:")]
    if observations:
        found = observations[-1].removeprefix("Observation:").strip()
        return f"Thought: I can answer now.\nAnswer: {found}"
    question = next(_text(m) for m in reversed(messages) if m.role == MessageRole.USER)
    action = json.dumps({"input": question})
    return f"Thought: I need the reports.\nAction: reports\nAction Input: {action}"


def _schema(messages: Sequence[ChatMessage]) -> dict[str, Any] | None:
    for message in messages:
        text = _text(message)
        if SCHEMA_MARK in text:
            schema: dict[str, Any] = json.loads(text.split(SCHEMA_MARK, 1)[1].splitlines()[0])
            return schema
    return None


def _final(lines: list[str], schema: dict[str, Any] | None) -> str:
    """``FINAL:`` with the first output line, or JSON for ``schema``: integer fields get the
    first number in the output, the others the first line."""
    first = lines[0][:120] if lines else "nothing found"
    if schema is None:
        return "FINAL: " + first
    number = re.search(r"\d+", " ".join(lines))
    value = {
        name: int(number.group()) if field.get("type") == "integer" and number else first
        for name, field in schema.get("properties", {}).items()
    }
    return "FINAL: " + json.dumps(value)


def reply_to(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    system = _text(messages[0]) if messages else ""
    last = _text(messages[-1]) if messages else ""
    if system.startswith("You rank passages"):
        text = "[2] > [1]"
    elif system.startswith("You are a sub-LLM"):
        text = "The passage answers it."
    elif "Action Input:" in system:
        text = _react(messages)
    elif last.startswith(("Question:", "This is turn")):
        text = SEARCH_INDEX if "P is empty" in last else LOOK_AT_TEXT
    elif last.startswith("REPL output:"):
        lines = [line.strip() for line in last.splitlines()[1:] if line.strip()]
        lines = [line for line in lines if not line.startswith("Status:")]
        text = _final(lines, _schema(messages))
    else:
        text = "FINAL: done"
    return ChatMessage(role=MessageRole.ASSISTANT, content=text)


class OpenAILike(MockFunctionCallingLLM):
    """A scripted LLM with ``OpenAILike``'s name and the settings the page passes."""

    model: str = "scripted"
    api_base: str | None = None
    api_key: str | None = None
    max_retries: int = 3
    timeout: float = 60.0

    def __init__(self, **fields: Any) -> None:
        is_chat_model = fields.pop("is_chat_model", True)
        super().__init__(response_generator=reply_to, is_chat_model=is_chat_model, **fields)


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``from llama_index.llms.openai_like import OpenAILike`` import the stand-in."""
    module = types.ModuleType("llama_index.llms.openai_like")
    module.OpenAILike = OpenAILike  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_index.llms.openai_like", module)
