"""``Session``: several questions over one REPL; a plain run is a one-turn session.

The session owns a ``Workspace`` (the REPL and its helpers) from its first turn to ``close()``,
so variables survive between turns and the isolated worker lives exactly as long as the
session (it is also closed when the session is garbage collected). Each turn is its own run
(``RunSession``): its own trace and its own limits, plus the session's optional token total.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import keyword
import os
import sys
import tempfile
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rlm_core.context import Context, FileContext
from rlm_core.engine import prompts
from rlm_core.engine.event_stream import astream_events, stream_events
from rlm_core.engine.run import RunSession
from rlm_core.engine.settings import EngineSettings
from rlm_core.engine.structured import OutputSpec
from rlm_core.engine.toolkit import Toolkit
from rlm_core.engine.workspace import Workspace
from rlm_core.errors import ContextError, MaxTokensExceeded, SessionError
from rlm_core.events import Event, EventBus, Listener
from rlm_core.repl.base import REPL
from rlm_core.repl.context_helpers import RESERVED_NAMES
from rlm_core.trace import Trace

SAVE_FORMAT = "rlm-session"
SAVE_VERSION = 1
_PLAIN_TYPES = ("str", "int", "float", "bool", "NoneType", "list", "tuple", "dict")


@dataclass(frozen=True, slots=True)
class Turn:
    """One finished turn of a session."""

    query: str
    answer: str


class Session:
    """A conversation with an ``RLM``: ``run`` / ``arun`` answer one question each.

    Made by ``RLM.session()``; use it as a context manager (``with`` or ``async with``) or
    call ``close()``. Across turns the REPL keeps its variables; the first context stays
    ``P`` / ``ctx``, every context given so far is in ``contexts`` (``contexts[0]`` is
    ``P``), and ``history`` lists the earlier turns as ``{"query", "answer"}`` dicts. The
    root model sees one short line per earlier turn, not their transcripts.
    """

    def __init__(
        self,
        settings: EngineSettings,
        listeners: list[Listener],
        *,
        check_query: Callable[[Any], str],
        max_total_tokens: int | None = None,
        restore: str | Path | None = None,
    ) -> None:
        if max_total_tokens is not None and (
            isinstance(max_total_tokens, bool)
            or not isinstance(max_total_tokens, int)
            or max_total_tokens < 1
        ):
            raise SessionError(
                f"max_total_tokens must be None or an int >= 1, got {max_total_tokens!r}"
            )
        self.settings = settings
        self.listeners = listeners
        self.max_total_tokens = max_total_tokens
        self.total_tokens = 0
        self.turns: list[Turn] = []
        self.contexts: list[Context] = []
        self._check_query = check_query
        self._restored: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._workspace = Workspace()
        self._finalizer = weakref.finalize(self, self._workspace.close)
        if restore is not None:
            self._load(Path(restore))

    # -- running -----------------------------------------------------------------------------
    def run(
        self,
        query: str,
        context: Context | str | list[str] | None = None,
        *,
        output_type: Any = None,
    ) -> tuple[Any, Trace]:
        """Answer ``query`` (over ``context``, added to the session's contexts, if given);
        ``output_type`` as in ``RLM.run``."""
        return self._run(query, context, output_type, [])

    async def arun(
        self,
        query: str,
        context: Context | str | list[str] | None = None,
        *,
        output_type: Any = None,
    ) -> tuple[Any, Trace]:
        """``run`` without blocking the event loop."""
        return await self._arun(query, context, output_type, [])

    def stream(
        self, query: str, context: Context | str | list[str] | None = None
    ) -> Iterator[Event]:
        """One turn's events as they happen (``RLM.stream`` for a session turn)."""
        return stream_events(lambda listener: self._run(query, context, None, [listener]))

    def astream(
        self, query: str, context: Context | str | list[str] | None = None
    ) -> AsyncIterator[Event]:
        """Async ``stream``: events are delivered on the caller's event loop."""
        return astream_events(lambda listener: self._arun(query, context, None, [listener]))

    def _run(
        self, query: Any, context: Any, output_type: Any, extra: list[Listener]
    ) -> tuple[Any, Trace]:
        output = None if output_type is None else OutputSpec.of(output_type)
        turn, first, metadata, note = self._begin(query, context)
        try:
            run = RunSession(
                self._turn_settings(),
                EventBus([*self.listeners, *extra]),
                workspace=self._workspace,
            )
            try:
                answer = run.run(
                    query, first, metadata, setup=self._setup, note=note, output=output
                )
            finally:
                self.total_tokens += run.state.budget.total_tokens
        finally:
            self._lock.release()
        return self._end(turn, query, answer, run.trace)

    async def _arun(
        self, query: Any, context: Any, output_type: Any, extra: list[Listener]
    ) -> tuple[Any, Trace]:
        output = None if output_type is None else OutputSpec.of(output_type)
        turn, first, metadata, note = self._begin(query, context)
        try:
            run = RunSession(
                self._turn_settings(),
                EventBus([*self.listeners, *extra]),
                loop=asyncio.get_running_loop(),
                workspace=self._workspace,
            )
            try:
                answer = await run.arun(
                    query, first, metadata, setup=self._setup, note=note, output=output
                )
            finally:
                self.total_tokens += run.state.budget.total_tokens
        finally:
            self._lock.release()
        return self._end(turn, query, answer, run.trace)

    def _begin(
        self, query: Any, context: Any
    ) -> tuple[int, Context, dict[str, Any] | None, str | None]:
        query = self._check_query(query)
        added = None if context is None else Context.coerce(context)
        if not self._lock.acquire(blocking=False):
            raise SessionError("this session is already answering a question; wait for it")
        try:
            if self._closed:
                raise SessionError("this session is closed; open a new one with rlm.session()")
            turn = len(self.turns) + 1
            if self.max_total_tokens is not None and self.total_tokens >= self.max_total_tokens:
                raise _refused_turn(
                    MaxTokensExceeded(
                        f"the session used its token budget: {self.total_tokens} >= "
                        f"max_total_tokens={self.max_total_tokens}; open a new session"
                    ),
                    query,
                    turn,
                )
            where = "P" if not self.contexts else f"contexts[{len(self.contexts)}]"
            if not self.contexts:
                self.contexts.append(added if added is not None else Context.from_text(""))
            elif added is not None:
                if not isinstance(added.text, str):
                    raise ContextError(
                        "a file-backed context (Context.from_file/from_files) can only be a "
                        "session's first context, where it is P; later turns take text"
                    )
                self.contexts.append(added)
            metadata = _metadata(added, where, self._has_retriever)
            earlier = [(t.query, t.answer) for t in self.turns]
            note = prompts.session_note(turn, earlier) if earlier else None
        except BaseException:
            self._lock.release()
            raise
        return turn, self.contexts[0], metadata, note

    @property
    def _has_retriever(self) -> bool:
        return self.settings.retriever is not None

    def _setup(self, repl: REPL) -> None:
        """Before each turn: restored variables (once), ``contexts`` and ``history``."""
        for name, value in self._restored.items():
            repl.set(name, value)
        self._restored = {}
        repl.set("contexts", [_repl_text(context) for context in self.contexts])
        repl.set("history", [{"query": t.query, "answer": t.answer} for t in self.turns])

    def _turn_settings(self) -> EngineSettings:
        """The settings of a turn: the session's remaining tokens cap the turn's budget."""
        if self.max_total_tokens is None:
            return self.settings
        left = self.max_total_tokens - self.total_tokens
        policy = self.settings.policy
        limit = left if policy.max_total_tokens is None else min(policy.max_total_tokens, left)
        return dataclasses.replace(
            self.settings, policy=dataclasses.replace(policy, max_total_tokens=limit)
        )

    def _end(self, turn: int, query: str, answer: Any, trace: Trace) -> tuple[Any, Trace]:
        trace.metadata["turn"] = turn
        self.turns.append(Turn(query, trace.answer or ""))
        return answer, trace

    # -- saving and restoring ----------------------------------------------------------------
    def save(self, path: str | Path, *, skip_unsaveable: bool = False) -> None:
        """Write the turns, contexts and REPL variables to ``path`` (JSON).

        Only plain data that JSON can hold can be saved (str, int, float, bool, None, and
        lists, tuples and str-keyed dicts of those; no int too long for ``str()``); functions,
        modules and other objects raise ``SessionError`` naming them, unless
        ``skip_unsaveable=True`` leaves them out. The file is replaced atomically, so a failed
        save leaves an earlier one whole.
        """
        with self._busy():
            variables, skipped = self._variables()
        if skipped and not skip_unsaveable:
            raise SessionError(
                "cannot save these REPL variables, they are not plain data (str, int, float, "
                f"bool, None, lists and str-keyed dicts; no int of over "
                f"{sys.get_int_max_str_digits()} digits): {', '.join(skipped)}; delete them, "
                "convert them, or call save(path, skip_unsaveable=True) to leave them out"
            )
        state = {
            "format": SAVE_FORMAT,
            "version": SAVE_VERSION,
            "turns": [{"query": t.query, "answer": t.answer} for t in self.turns],
            "contexts": [_context_state(context) for context in self.contexts],
            "variables": variables,
            "skipped": skipped,
        }
        try:
            _write_atomically(Path(path), json.dumps(state))
        except OSError as error:
            raise SessionError(f"cannot save the session to {path}: {error}") from None

    def _variables(self) -> tuple[dict[str, Any], list[str]]:
        """The REPL variables the model defined: (plain ones by name, names of the others)."""
        repl = self._workspace.repl
        toolkit = self._workspace.toolkit
        values = dict(self._restored)
        if repl is None or toolkit is None:
            return values, []
        helpers = set(toolkit.namespace())
        skipped: list[str] = []
        for name in sorted(repl.names - helpers - RESERVED_NAMES):
            if name.startswith("_"):
                continue
            probe = repl.exec(f"type({name}).__name__")
            if probe.error is not None:
                continue  # bound only in code that failed, or deleted since
            kind = probe.stdout.strip().strip("'\"")
            value = repl.get(name) if kind in _PLAIN_TYPES else None
            if kind not in _PLAIN_TYPES or type(value).__name__ != kind or not _is_plain(value):
                skipped.append(name)
                continue
            values[name] = value
        return values, skipped

    def _load(self, path: Path) -> None:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SessionError(f"cannot restore the session from {path}: {error}") from None
        if not isinstance(state, dict) or state.get("format") != SAVE_FORMAT:
            raise SessionError(f"{path} is not a saved rlm session (made by Session.save)")
        if state.get("version") != SAVE_VERSION:
            raise SessionError(
                f"{path} was saved in session format version {state.get('version')!r}; "
                f"this rlm-core reads version {SAVE_VERSION}"
            )
        try:
            self.turns = [Turn(t["query"], t["answer"]) for t in state["turns"]]
            self.contexts = [_context_from_state(c) for c in state["contexts"]]
            variables = state["variables"]
        except (KeyError, TypeError, OSError, ContextError) as error:
            raise SessionError(f"{path} is damaged: {error}") from None
        if not isinstance(variables, dict):
            raise SessionError(f"{path} is damaged: its variables are not a dict of name -> value")
        bad = sorted(map(repr, set(variables) - self._restorable(variables)))
        if bad:
            raise SessionError(
                f"{path} is damaged: it holds variables a session cannot restore (the REPL's own "
                f"names, helpers or tools, or not Python identifiers): {', '.join(bad)}"
            )
        self._restored = dict(variables)

    def _restorable(self, variables: dict[Any, Any]) -> set[str]:
        """The names in ``variables`` that ``save`` could have written: identifiers that are
        none of the REPL's own names, helpers or this session's tools."""
        taken = {spec.name for spec in Toolkit.specs(with_retriever=True)}
        taken |= set(self.settings.tools) | RESERVED_NAMES
        return {
            name
            for name in variables
            if isinstance(name, str)
            and name.isidentifier()
            and not keyword.iskeyword(name)
            and not name.startswith("_")
            and name not in taken
        }

    # -- closing -----------------------------------------------------------------------------
    def close(self) -> None:
        """End the session: its REPL (and isolated worker) is closed. Safe to call twice."""
        self._closed = True
        self._finalizer()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        """Whether a turn is running (a stream whose reader stopped may still be finishing)."""
        return self._lock.locked()

    @property
    def repl(self) -> REPL | None:
        """The session's REPL backend (``None`` before the first turn and after ``close``)."""
        tracked = self._workspace.repl
        return None if tracked is None else tracked.inner

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _busy(self) -> _Held:
        if not self._lock.acquire(blocking=False):
            raise SessionError("this session is answering a question; save it afterwards")
        return _Held(self._lock)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"Session({state}, turns={len(self.turns)}, contexts={len(self.contexts)})"


class _Held:
    """Releases an already acquired lock at the end of a ``with`` block."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        self.lock.release()


def _refused_turn(error: MaxTokensExceeded, query: str, turn: int) -> MaxTokensExceeded:
    """``error`` with the trace of the turn it refused: the query, the error, no steps."""
    trace = Trace()
    trace.query = query
    trace.error = f"{type(error).__name__}: {error}"
    trace.metadata["turn"] = turn
    error.trace = trace
    return error


def _metadata(context: Context | None, where: str, has_retriever: bool) -> dict[str, Any] | None:
    """The context shape the model is told about for this turn."""
    if context is None:
        if has_retriever:
            return {"document_index": "available (es_search, es_get)", "new_context": False}
        return {"new_context": False, "note": "no new context this turn; see contexts and P"}
    metadata = context.metadata()
    metadata["variable"] = where
    if has_retriever:
        metadata["document_index"] = "available (es_search, es_get)"
    return metadata


def _is_plain(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_writable(value)
    if value is None or isinstance(value, str | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and _is_plain(item, depth + 1) for key, item in value.items()
        )
    return False


def _int_writable(value: int) -> bool:
    """Whether JSON can write ``value``: not an int too long for ``str()``."""
    try:
        str(value)
    except ValueError:
        return False
    return True


def _write_atomically(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file in the same folder, renamed over it."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _repl_text(context: Context) -> str:
    """What ``contexts[i]`` holds: the text, or for a file-backed context (only ever the
    first, read through ``P``) a description, so the file is never loaded whole."""
    text: Any = context.text
    return text if isinstance(text, str) else f"{text!r} (read it through P and ctx)"


def _context_state(context: Context) -> dict[str, Any]:
    if isinstance(context, FileContext):
        return {"files": [file.path for file in context.files], "separator": context.separator}
    return {
        "text": context.text,
        "starts": list(context._starts),
        "lengths": list(context._lengths),
        "separator": context.separator,
    }


def _context_from_state(state: dict[str, Any]) -> Context:
    if "files" in state:
        return Context.from_files(state["files"], state["separator"])
    return Context(state["text"], state["starts"], state["lengths"], state["separator"])
