"""Tool calls as an RLM's answer, built on rlm-core's structured answers.

With tools bound (``ChatRLM.bind_tools``), the run's answer is a validated
``{"answer": str, "tool_calls": [{"name", "args"}]}`` value: the root model is told
the tools and their argument schemas, a reply naming an unknown tool, missing a
required argument, giving one a strict schema does not declare or skipping a required
call gets one repair turn, and the result becomes an ``AIMessage`` with ``tool_calls``
that LangGraph's ``ToolNode`` (or any agent loop) can execute. When the model may
choose, a plain-text answer is an answer without calls.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from langchain_core.messages import ToolCall
from pydantic import BaseModel, Field, create_model, model_validator

ANY_TOOL = "any"
"""The normalised ``tool_choice`` that requires at least one tool call."""
NO_TOOL = "none"
"""The normalised ``tool_choice`` that allows no tool call: the run answers in plain text."""
_CHOICE_TYPES = ("auto", "any", "required", "none")


def normalise_tool_choice(tool_choice: Any) -> str | None:
    """``None`` (the model decides), ``"any"`` (must call a tool), ``"none"`` (must not)
    or a tool name."""
    if isinstance(tool_choice, dict) and tool_choice.get("type") in _CHOICE_TYPES:
        tool_choice = tool_choice["type"]  # {"type": "any"} and the like (Anthropic's form)
    if tool_choice in (None, False, "auto"):
        return None
    if tool_choice == "none":
        return NO_TOOL
    if tool_choice in (True, "any", "required"):
        return ANY_TOOL
    if isinstance(tool_choice, str):
        return tool_choice
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        if isinstance(name, str) and name:
            return name
    raise ValueError(
        f"tool_choice must be 'auto', 'any', 'required', 'none', a tool name or "
        f"{{'type': 'function', 'function': {{'name': ...}}}}, got {tool_choice!r}"
    )


class ToolCallRequest(BaseModel):
    """One call the answer asks for."""

    name: str = Field(description="The tool's name.")
    args: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")


def _functions(tools: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {tool["function"]["name"]: tool["function"] for tool in tools}


@dataclass(frozen=True)
class _Rules:
    functions: dict[str, dict[str, Any]]
    choice: str | None
    one_call: bool = False

    @property
    def text(self) -> str:
        if self.choice is None:
            rule = "Call tools only if the answer needs them; otherwise give the answer text."
        elif self.choice == ANY_TOOL:
            rule = "You must call at least one of the tools."
        else:
            rule = f"You must call the tool {self.choice!r}."
        return f"{rule} Call at most one tool per reply." if self.one_call else rule

    def check(self, calls: list[ToolCallRequest]) -> None:
        if self.choice is not None and not calls:
            raise ValueError(f"no tool call given: {self.text}")
        for call in calls:
            function = self.functions.get(call.name)
            if function is None:
                raise ValueError(
                    f"unknown tool {call.name!r}; the tools are {sorted(self.functions)}"
                )
            if self.choice not in (None, ANY_TOOL) and call.name != self.choice:
                raise ValueError(f"tool {call.name!r} called: {self.text}")
            wanted = (function.get("parameters") or {}).get("required") or []
            missing = [name for name in wanted if name not in call.args]
            if missing:
                raise ValueError(f"tool {call.name!r} is missing the arguments {missing}")
            parameters = function.get("parameters") or {}
            if parameters.get("additionalProperties") is False:  # a strict schema
                declared = parameters.get("properties") or {}
                undeclared = sorted(name for name in call.args if name not in declared)
                if undeclared:
                    raise ValueError(f"tool {call.name!r} takes no arguments {undeclared}")


class ToolReply(BaseModel):
    """The answer, or tool calls."""

    rules: ClassVar[_Rules] = _Rules({}, None)

    answer: str = Field(default="", description="The answer text (may be empty).")
    tool_calls: list[ToolCallRequest] = Field(
        default_factory=list, description="Tool calls to make, each {name, args}."
    )

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        """When the model may choose, a plain-text answer is an answer without calls."""
        if isinstance(value, str) and cls.rules.choice is None:
            return {"answer": value}
        return value

    @model_validator(mode="after")
    def _check_calls(self) -> ToolReply:
        if self.rules.one_call:
            self.tool_calls = self.tool_calls[:1]  # the rest can be asked for next turn
        self.rules.check(self.tool_calls)
        return self


def reply_model(
    tools: Sequence[dict[str, Any]], tool_choice: str | None, *, one_call: bool = False
) -> type[ToolReply]:
    """The answer's schema for ``tools`` (OpenAI tool dicts) under ``tool_choice``;
    ``one_call`` keeps only the first call of a reply (``parallel_tool_calls=False``)."""
    functions = _functions(tools)
    if tool_choice not in (None, ANY_TOOL, NO_TOOL) and tool_choice not in functions:
        raise ValueError(
            f"tool_choice names {tool_choice!r}, which is not one of the bound tools: "
            f"{sorted(functions)}"
        )
    rules = _Rules(functions, tool_choice, one_call)
    catalogue = json.dumps(
        [
            {
                "name": name,
                "description": function.get("description", ""),
                "parameters": function.get("parameters", {}),
            }
            for name, function in functions.items()
        ]
    )
    model = create_model(
        "RLMToolReply",
        __base__=ToolReply,
        __doc__=f"The answer, or tool calls. {rules.text} Tools: {catalogue}",
    )
    model.rules = rules
    return model


def tool_calls_of(reply: BaseModel) -> tuple[str, list[ToolCall]]:
    """The answer text and LangChain ``ToolCall`` dicts of a validated reply."""
    calls = [
        ToolCall(name=call.name, args=dict(call.args), id=f"call_{uuid.uuid4().hex[:24]}")
        for call in getattr(reply, "tool_calls", [])
    ]
    return str(getattr(reply, "answer", "")), calls
