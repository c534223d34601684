"""A LangChain conversation split into the RLM's query and what came before it.

The last human message is the query. System text is added to the root model's
system prompt and earlier turns are replayed to the root model as the turns
they were (human / AI messages), never flattened into a ``Human:`` transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

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
        text = str(message.text).strip()
        if index == last or not text:
            continue
        if isinstance(message, SystemMessage):
            system.append(text)
        elif index > last:  # a reply after the question has nothing to add to it
            continue
        elif isinstance(message, AIMessage):
            turns.append(AIMessage(content=text))
        elif isinstance(message, HumanMessage):
            turns.append(HumanMessage(content=text))
        else:  # tool results and other roles: their text, marked with the role
            turns.append(HumanMessage(content=f"[{message.type}] {text}"))
    return str(messages[last].text), Preamble("\n\n".join(system), tuple(turns))
