"""``RLMSessions``: one rlm-core session per LangChain conversation.

A conversation is named by the run's ``configurable`` ``session_id`` (as
``RunnableWithMessageHistory`` sets it) or ``thread_id`` (as a LangGraph
checkpointer's config has it). Its core session keeps the REPL, so variables the
model defined in one turn are there in the next. Each turn rebinds the session's
models, retriever and event dispatch to that turn's run, so every turn's calls
are children of its own run. Sessions are closed by ``close(conversation_id)``,
``close_all()``, or when unused for ``idle_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig, ensure_config

from rlm_core import Event, Session, SessionError, SessionPool, Trace
from rlm_langchain.adapter import ChatModelAdapter
from rlm_langchain.conversation import Preamble
from rlm_langchain.engine import BoundEngine, EngineSpec, inner_model_config
from rlm_langchain.progress import dispatch_event
from rlm_langchain.retriever_adapter import LangChainRetrieverAdapter

CONVERSATION_KEYS = ("session_id", "thread_id")
"""``configurable`` keys that name a conversation, in order of preference."""


def conversation_id_of(values: Mapping[str, Any] | None) -> str | None:
    """The conversation named in a run's ``configurable`` (or its metadata, where LangChain
    copies those values): ``session_id``, else ``thread_id``."""
    configurable = values or {}
    for key in CONVERSATION_KEYS:
        value = configurable.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def with_conversation_metadata(config: RunnableConfig | None) -> RunnableConfig:
    """``config`` (merged with the surrounding run's) with its conversation id also in
    ``metadata``, where a chat model's ``_generate`` can read it from its run manager."""
    full = ensure_config(config)
    conversation_id = conversation_id_of(full.get("configurable"))
    metadata = full.get("metadata") or {}
    if conversation_id is None or conversation_id_of(metadata) == conversation_id:
        return full
    key = next(k for k in CONVERSATION_KEYS if (full.get("configurable") or {}).get(k))
    return {**full, "metadata": {**metadata, key: conversation_id}}


@dataclass
class _TurnBinding:
    """What the current turn's calls run under; the session's adapters read it."""

    config: RunnableConfig | None = None

    def dispatch(self, event: Event) -> None:
        if self.config is not None:
            dispatch_event(event, self.config)


@dataclass
class Conversation:
    """One conversation's core session and what each turn rebinds."""

    session: Session
    engine: BoundEngine
    binding: _TurnBinding
    used_at: float
    pool: SessionPool[Conversation]
    """The pool told when a turn ends (it marks the conversation used and may evict)."""
    turns: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self,
        query: str,
        context: str | list[str] | None,
        config: RunnableConfig | None,
        preamble: Preamble,
        *,
        output_type: Any = None,
    ) -> tuple[Any, Trace]:
        """One turn in the session: its calls are children of ``config``'s run."""
        context = context if self.first_turn else None
        with self._turn(config, preamble, None):
            return self.session.run(query, context, output_type=output_type)

    async def arun(
        self,
        query: str,
        context: str | list[str] | None,
        config: RunnableConfig | None,
        preamble: Preamble,
        *,
        output_type: Any = None,
    ) -> tuple[Any, Trace]:
        """``run`` on the async engine (a wrapped retriever is searched on this loop)."""
        context = context if self.first_turn else None
        with self._turn(config, preamble, asyncio.get_running_loop()):
            return await self.session.arun(query, context, output_type=output_type)

    def events(
        self,
        query: str,
        context: str | list[str] | None,
        config: RunnableConfig | None,
        preamble: Preamble,
    ) -> Iterator[Event]:
        """``run``'s events as they happen (the turn runs in a worker thread)."""
        context = context if self.first_turn else None
        with self._turn(config, preamble, None):
            yield from self.session.stream(query, context)

    async def aevents(
        self,
        query: str,
        context: str | list[str] | None,
        config: RunnableConfig | None,
        preamble: Preamble,
    ) -> AsyncIterator[Event]:
        """``arun``'s events as they happen, on this loop."""
        context = context if self.first_turn else None
        with self._turn(config, preamble, asyncio.get_running_loop()):
            async for event in self.session.astream(query, context):
                yield event

    @property
    def first_turn(self) -> bool:
        return not self.session.turns

    @contextmanager
    def _turn(
        self,
        config: RunnableConfig | None,
        preamble: Preamble,
        loop: asyncio.AbstractEventLoop | None,
    ) -> Iterator[None]:
        if not self.lock.acquire(blocking=False):
            raise SessionError(
                "this conversation is already answering a question; wait for it, or use "
                "another session_id / thread_id for a parallel conversation"
            )
        try:
            self._bind(config, preamble, loop)
            yield
        finally:
            self.lock.release()
            self.pool.turn_ended(self)

    def _bind(
        self,
        config: RunnableConfig | None,
        preamble: Preamble,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        """Make this turn's model, retriever and event calls children of its run."""
        self.binding.config = config
        rlm = self.engine.rlm
        model_config = inner_model_config(config)
        for adapter in {id(a): a for a in (rlm.adapter, rlm.subcall_adapter)}.values():
            if isinstance(adapter, ChatModelAdapter):
                adapter.config = model_config
        if isinstance(rlm.adapter, ChatModelAdapter):
            rlm.adapter.preamble = Preamble(system=preamble.system)  # the core keeps the turns
        if isinstance(self.engine.retriever, LangChainRetrieverAdapter):
            self.engine.retriever.config = config
            self.engine.retriever.loop = loop


class RLMSessions(SessionPool[Conversation]):
    """Keeps one rlm-core session per conversation for ``ChatRLM`` / ``RLMRunnable``.

    Pass it as ``sessions=RLMSessions()``; runs whose config names a conversation
    (``configurable.session_id`` or ``configurable.thread_id``) then share that
    conversation's REPL across turns. ``idle_timeout`` (seconds, ``None`` for never)
    closes sessions left unused (a timer does it, and every new turn checks);
    ``max_sessions`` (``None`` for no limit) closes the least recently used idle ones
    beyond that many; ``clock`` is the time source (``time.monotonic``). Closing and
    inspecting (``close``, ``close_all``, ``close_idle``, ``session``, ``len``, ``in``)
    come from rlm-core's ``SessionPool``.
    """

    def __init__(
        self,
        *,
        idle_timeout: float | None = 1800.0,
        max_sessions: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(max_sessions=max_sessions, idle_timeout=idle_timeout, clock=clock)

    def conversation(self, conversation_id: str, spec: EngineSpec) -> Conversation:
        """The conversation's state, opening its core session on its first turn."""
        self.close_idle()
        now = self.clock()
        found = self.get(conversation_id)
        if found is None:
            binding = _TurnBinding()
            engine = spec.bind(None, binding.dispatch)
            opened = Conversation(engine.rlm.session(), engine, binding, now, self)
            found = self.add(conversation_id, opened)
            if found is not opened:  # a parallel first turn opened it meanwhile
                opened.session.close()
        found.used_at = now
        return found

    def __repr__(self) -> str:
        return f"RLMSessions(open={len(self)}, idle_timeout={self.idle_timeout!r})"
