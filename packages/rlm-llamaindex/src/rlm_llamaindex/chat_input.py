"""What ``RLMLLM`` reads from a chat call's message list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from rlm_core import ContextError
from rlm_llamaindex.conversations import Message


def message_text(message: ChatMessage) -> str:
    return str(message.content or "")


@dataclass(frozen=True)
class ChatInput:
    """One call's messages, split the way a reply needs them."""

    question: str
    """The last user message: what this reply answers."""
    earlier: tuple[str, ...]
    """The non-empty messages before it as ``role: text`` lines, system messages included."""
    prior: tuple[Message, ...]
    """The messages before it other than system messages, as compared between turns."""
    system: str
    """The text of the system messages before it (a chat engine's prompt and context)."""


def read_chat(messages: Sequence[ChatMessage]) -> ChatInput:
    """The question (last user message) and what came before it; ``TypeError`` for anything
    but a list of ``ChatMessage``, ``ContextError`` if there is no non-empty user message."""
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise TypeError(
            f"RLMLLM chat methods take a list of ChatMessage, got {type(messages).__name__}; "
            "pass [ChatMessage(role='user', content=...)], or call complete(prompt) for a "
            "plain prompt"
        )
    for index, message in enumerate(messages):
        if not isinstance(message, ChatMessage):
            raise TypeError(
                f"RLMLLM chat methods take a list of ChatMessage, but message {index} is "
                f"{type(message).__name__}; wrap it: ChatMessage(role='user', content=...)"
            )
    last = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == MessageRole.USER),
        None,
    )
    if last is None or not message_text(messages[last]).strip():
        raise ContextError("RLMLLM needs a non-empty user message to use as the question")
    before = [m for m in messages[:last] if message_text(m).strip()]
    return ChatInput(
        question=message_text(messages[last]),
        earlier=tuple(f"{m.role.value}: {message_text(m)}" for m in before),
        prior=tuple(
            (m.role.value, message_text(m).strip()) for m in before if m.role != MessageRole.SYSTEM
        ),
        system="\n\n".join(message_text(m) for m in before if m.role == MessageRole.SYSTEM),
    )
