"""``ChatSessions``: one rlm-core session per chat conversation behind ``RLMLLM``.

A conversation keeps its core ``Session`` (the REPL), so variables the model set in
one turn are there in the next. A call belongs to a conversation in one of two ways:

- explicitly, by a conversation id (``RLMLLM.conversation(id)`` or
  ``chat(..., conversation_id=id)``): the way to go when several users chat at once;
- implicitly, when its messages before the new question (system messages aside)
  are exactly those of a conversation's last turn, question and answer included, as
  a chat engine's memory replays them. Two open conversations with the same
  messages match neither (a new one starts), so strangers never share a REPL.

At most ``max_sessions`` stay open: when another one opens, the least recently used
idle ones are closed, one-turn conversations first (one-off calls such as
``predict`` open one each). Conversations unused for ``idle_timeout`` seconds are
closed by a timer; ``close`` / ``close_all`` close them on demand.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlm_core import ConfigError, Session, SessionError, SessionPool

Message = tuple[str, str]
"""A chat message as compared between turns: (role, text without surrounding space)."""

Opener = Callable[[], tuple[Session, Any]]
"""Opens a conversation's core session; returns it with its own retriever (or ``None``)."""


@dataclass
class Conversation:
    """One conversation: its core session and what the next turn must carry to continue it."""

    conversation_id: str
    session: Session
    retriever: Any
    explicit: bool
    used_at: float
    expected: tuple[Message, ...] = ()
    system: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def first_turn(self) -> bool:
        return not self.session.turns

    def answered(self, prior: Sequence[Message], question: str, answer: str) -> None:
        """What the next turn's messages before its question will be, if it continues this."""
        self.expected = (*prior, ("user", question.strip()), ("assistant", answer.strip()))


class ChatSessions(SessionPool[Conversation]):
    """The open conversations of an ``RLMLLM`` (see the module docstring).

    ``max_sessions`` bounds the open sessions (conversations in the middle of a turn
    are never closed, so more may be open while that many answer at once);
    ``idle_timeout`` (seconds, ``None`` for never) closes unused ones; ``clock`` is
    the time source (``time.monotonic``). Closing and inspecting (``close``,
    ``close_all``, ``close_idle``, ``session``, ``len``, ``in``) come from rlm-core's
    ``SessionPool``.
    """

    def __init__(
        self,
        *,
        max_sessions: int = 16,
        idle_timeout: float | None = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions is None:
            raise ConfigError("max_sessions must be an int >= 1, got None")
        super().__init__(max_sessions=max_sessions, idle_timeout=idle_timeout, clock=clock)

    # -- turns ---------------------------------------------------------------------------------
    def begin(
        self, conversation_id: str | None, prior: Sequence[Message], opener: Opener
    ) -> Conversation:
        """The conversation a turn runs in, locked for the turn (``end`` unlocks it).

        With ``conversation_id`` that conversation (opened if new); without, the one
        whose last turn ``prior`` replays, or a new one.
        """
        self.close_idle()
        with self.entries() as conversations:
            found = _find(conversations, conversation_id, tuple(prior))
            if found is not None and not found.lock.acquire(blocking=False):
                raise _busy(conversation_id)
        if found is None:
            found = self._open(conversation_id, opener)
        found.used_at = self.clock()
        return found

    def end(self, conversation: Conversation) -> None:
        """The turn is over: the conversation may be matched, evicted or closed again."""
        conversation.lock.release()
        self.turn_ended(conversation)

    def _open(self, conversation_id: str | None, opener: Opener) -> Conversation:
        session, retriever = opener()
        conversation = Conversation(
            conversation_id=conversation_id or f"chat-{uuid.uuid4().hex[:12]}",
            session=session,
            retriever=retriever,
            explicit=conversation_id is not None,
            used_at=self.clock(),
        )
        conversation.lock.acquire()
        if self.add(conversation.conversation_id, conversation) is not conversation:
            conversation.lock.release()  # opened meanwhile by a parallel first turn
            session.close()
            raise _busy(conversation_id)
        return conversation

    def __repr__(self) -> str:
        return (
            f"ChatSessions(open={len(self)}, max_sessions={self.max_sessions}, "
            f"idle_timeout={self.idle_timeout!r})"
        )


def _find(
    conversations: dict[str, Conversation],
    conversation_id: str | None,
    prior: tuple[Message, ...],
) -> Conversation | None:
    if conversation_id is not None:
        return conversations.get(conversation_id)
    if not prior:
        return None
    matches = [
        conversation
        for conversation in conversations.values()
        if not conversation.explicit
        and conversation.expected == prior
        and not conversation.lock.locked()
    ]
    return matches[0] if len(matches) == 1 else None


def _busy(conversation_id: str | None) -> SessionError:
    return SessionError(
        f"conversation {conversation_id!r} is already answering a message; wait "
        "for it, or use another conversation id for a parallel conversation"
    )
