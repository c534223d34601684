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
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlm_core import ConfigError, Session, SessionError

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


class ChatSessions:
    """The open conversations of an ``RLMLLM`` (see the module docstring).

    ``max_sessions`` bounds the open sessions (conversations in the middle of a turn
    are never closed, so more may be open while that many answer at once);
    ``idle_timeout`` (seconds, ``None`` for never) closes unused ones; ``clock`` is
    the time source (``time.monotonic``).
    """

    def __init__(
        self,
        *,
        max_sessions: int = 16,
        idle_timeout: float | None = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
            raise ConfigError(f"max_sessions must be an int >= 1, got {max_sessions!r}")
        if idle_timeout is not None and (
            isinstance(idle_timeout, bool)
            or not isinstance(idle_timeout, int | float)
            or idle_timeout <= 0
        ):
            raise ConfigError(
                f"idle_timeout must be a positive number of seconds or None, got {idle_timeout!r}"
            )
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._conversations: dict[str, Conversation] = {}
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    # -- inspecting and closing ----------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return len(self._conversations)

    def __contains__(self, conversation_id: object) -> bool:
        with self._lock:
            return conversation_id in self._conversations

    def session(self, conversation_id: str) -> Session | None:
        """The open core session of a conversation, if any."""
        with self._lock:
            found = self._conversations.get(conversation_id)
        return None if found is None else found.session

    def close(self, conversation_id: str) -> bool:
        """Close one conversation's session (its REPL); ``False`` if it had none."""
        with self._lock:
            found = self._conversations.pop(conversation_id, None)
        if found is None:
            return False
        found.session.close()
        return True

    def close_all(self) -> None:
        """Close every open session (and stop the idle timer)."""
        with self._lock:
            found = list(self._conversations.values())
            self._conversations.clear()
            self._disarm()
        for conversation in found:
            conversation.session.close()

    def close_idle(self) -> int:
        """Close the conversations unused for ``idle_timeout`` seconds; how many were closed."""
        if self.idle_timeout is None:
            return 0
        timeout = self.idle_timeout
        now = self._clock()
        with self._lock:
            stale = [
                key
                for key, conversation in self._conversations.items()
                if now - conversation.used_at >= timeout and not conversation.lock.locked()
            ]
            closed = [self._conversations.pop(key) for key in stale]
        for conversation in closed:
            conversation.session.close()
        return len(closed)

    # -- turns ---------------------------------------------------------------------------------
    def begin(
        self, conversation_id: str | None, prior: Sequence[Message], opener: Opener
    ) -> Conversation:
        """The conversation a turn runs in, locked for the turn (``end`` unlocks it).

        With ``conversation_id`` that conversation (opened if new); without, the one
        whose last turn ``prior`` replays, or a new one.
        """
        self.close_idle()
        with self._lock:
            found = self._find(conversation_id, tuple(prior))
            if found is not None and not found.lock.acquire(blocking=False):
                raise SessionError(
                    f"conversation {conversation_id!r} is already answering a message; wait "
                    "for it, or use another conversation id for a parallel conversation"
                )
        if found is None:
            found = self._open(conversation_id, opener)
        found.used_at = self._clock()
        return found

    def end(self, conversation: Conversation) -> None:
        """The turn is over: the conversation may be matched, evicted or closed again."""
        conversation.used_at = self._clock()
        conversation.lock.release()
        with self._lock:
            closed = self._evict()
            self._arm()
        for old in closed:
            old.session.close()

    def _find(self, conversation_id: str | None, prior: tuple[Message, ...]) -> Conversation | None:
        if conversation_id is not None:
            return self._conversations.get(conversation_id)
        if not prior:
            return None
        matches = [
            conversation
            for conversation in self._conversations.values()
            if not conversation.explicit
            and conversation.expected == prior
            and not conversation.lock.locked()
        ]
        return matches[0] if len(matches) == 1 else None

    def _open(self, conversation_id: str | None, opener: Opener) -> Conversation:
        session, retriever = opener()
        conversation = Conversation(
            conversation_id=conversation_id or f"chat-{uuid.uuid4().hex[:12]}",
            session=session,
            retriever=retriever,
            explicit=conversation_id is not None,
            used_at=self._clock(),
        )
        conversation.lock.acquire()
        with self._lock:
            other = self._conversations.get(conversation.conversation_id)
            if other is not None:  # opened meanwhile by a parallel first turn
                conversation.lock.release()
                session.close()
                raise SessionError(
                    f"conversation {conversation_id!r} is already answering a message; wait "
                    "for it, or use another conversation id for a parallel conversation"
                )
            self._conversations[conversation.conversation_id] = conversation
            closed = self._evict()
            self._arm()
        for old in closed:
            old.session.close()
        return conversation

    def _evict(self) -> list[Conversation]:
        """Take idle conversations out beyond ``max_sessions``: one-turn ones first, then
        the least recently used. Called with the lock held; the caller closes them."""
        excess = len(self._conversations) - self.max_sessions
        if excess <= 0:
            return []
        idle = [c for c in self._conversations.values() if not c.lock.locked()]
        idle.sort(key=lambda c: (len(c.session.turns) > 1, c.used_at))
        out = idle[:excess]
        for conversation in out:
            del self._conversations[conversation.conversation_id]
        return out

    # -- the idle timer ------------------------------------------------------------------------
    def _arm(self) -> None:
        """Start the timer that closes idle conversations, if it is needed and not running.
        Called with the lock held; a conversation in the middle of a turn counts as used now."""
        if self.idle_timeout is None or not self._conversations or self._timer is not None:
            return
        now = self._clock()
        soonest = min(now if c.lock.locked() else c.used_at for c in self._conversations.values())
        delay = max(soonest + self.idle_timeout - now, 0.0)
        # The timer holds the pool weakly: an unused pool (and its sessions) can be collected.
        self._timer = threading.Timer(delay + 0.001, _fire, args=(weakref.ref(self),))
        self._timer.daemon = True
        self._timer.start()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        self.close_idle()
        with self._lock:
            self._arm()

    def __repr__(self) -> str:
        return (
            f"ChatSessions(open={len(self)}, max_sessions={self.max_sessions}, "
            f"idle_timeout={self.idle_timeout!r})"
        )


def _fire(pool: weakref.ref[ChatSessions]) -> None:
    found = pool()
    if found is not None:
        found._on_timer()
