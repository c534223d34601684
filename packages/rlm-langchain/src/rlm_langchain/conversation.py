"""A LangChain conversation split into the RLM's query and what came before it.

The last human message is the query. System text is added to the root model's
system prompt and earlier turns are replayed to the root model as the turns
they were (human / AI messages), never flattened into a ``Human:`` transcript.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

SYSTEM_HEADING = "Instructions from the conversation:"


@dataclass(frozen=True, slots=True)
class Preamble:
    """What precedes the query: system text and the earlier turns of the conversation."""

    system: str = ""
    turns: tuple[BaseMessage, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.system or self.turns)

    def apply(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        """The engine's root messages with the system text appended and the turns inserted."""
        if not self:
            return messages
        head: list[BaseMessage] = []
        rest = list(messages)
        if rest and isinstance(rest[0], SystemMessage):
            head.append(rest.pop(0))
        if self.system:
            addition = f"{SYSTEM_HEADING}\n{self.system}"
            if head:
                head[0] = SystemMessage(content=f"{head[0].text}\n\n{addition}")
            else:
                head.append(SystemMessage(content=addition))
        return [*head, *self.turns, *rest]


def split_conversation(messages: Sequence[BaseMessage], *, who: str) -> tuple[str, Preamble]:
    """``(query, preamble)``: the last human message's text and everything before it.

    ``who`` names the caller in the error raised when there is no non-empty human message.
    """
    last = next(
        (i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)),
        None,
    )
    if last is None or not str(messages[last].text).strip():
        raise ValueError(f"{who} needs a non-empty user (human) message to use as the query")
    system: list[str] = []
    turns: list[BaseMessage] = []
    for index, message in enumerate(messages):
        if index == last:
            continue
        text = str(message.text).strip()
        if isinstance(message, SystemMessage):
            if text:
                system.append(text)
            continue
        turn = _as_turn(message, text)
        # After the question only an agent loop's tool exchange adds anything to it.
        if turn is not None and (index < last or isinstance(message, AIMessage | ToolMessage)):
            turns.append(turn)
    return str(messages[last].text), Preamble("\n\n".join(system), tuple(turns))


def _as_turn(message: BaseMessage, text: str) -> BaseMessage | None:
    """A message as a turn the root model can read; ``None`` when it says nothing."""
    if isinstance(message, AIMessage):
        calls = [{"name": call["name"], "args": call["args"]} for call in message.tool_calls]
        if calls:
            text = f"{text}\n[tool calls: {json.dumps(calls)}]".strip()
        return AIMessage(content=text) if text else None
    if not text:
        return None
    if isinstance(message, HumanMessage):
        return HumanMessage(content=text)
    if isinstance(message, ToolMessage):
        return HumanMessage(
            content=f"[result of tool {message.name or message.tool_call_id}] {text}"
        )
    return HumanMessage(content=f"[{message.type}] {text}")
