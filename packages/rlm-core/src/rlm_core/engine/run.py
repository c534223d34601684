"""One run (one turn) end to end: REPL set-up, the root loop, recursive sub-runs, clean-up,
errors. A session's turns each use a ``RunSession`` over the session's ``Workspace``."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from typing import Any

from rlm_core.adapters.base import ModelAdapter
from rlm_core.context import Context
from rlm_core.engine import prompts
from rlm_core.engine.drive import adrive, drive
from rlm_core.engine.loop import RootLoop, nothing_found
from rlm_core.engine.settings import EngineSettings, RunState
from rlm_core.engine.structured import OutputSpec
from rlm_core.engine.subcalls import SubcallRunner
from rlm_core.engine.toolkit import Toolkit
from rlm_core.engine.workspace import Workspace, new_toolkit
from rlm_core.errors import RLMError
from rlm_core.events import EventBus, TraceRecorder
from rlm_core.pieces import AnswerTap, pieces_to
from rlm_core.repl.base import REPL
from rlm_core.repl.selection import choice_of
from rlm_core.trace import Trace


class RunSession:
    """Holds the shared state of one top-level run and its recursive sub-runs.

    With ``workspace`` the run uses (and leaves open) that REPL, so a session's variables
    live on; without, it opens a REPL for this run and closes it at the end.
    """

    def __init__(
        self,
        settings: EngineSettings,
        bus: EventBus,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        self.trace = Trace()
        bus.subscribe(TraceRecorder(self.trace))
        self.state = RunState(settings, bus, self.trace, run_id=uuid.uuid4().hex, loop=loop)
        self.subcalls = SubcallRunner(
            self.state, sub_run=self._sub_run, async_sub_run=self._async_sub_run
        )
        self.workspace = workspace
        self.answer_tap = _answer_tap(settings, self.state)
        bus.subscribe(self.answer_tap)

    def _streaming(self, output: OutputSpec | None) -> AbstractContextManager[None]:
        """Route streamed pieces of model calls to the answer tap (not for typed answers)."""
        return nullcontext() if output is not None else pieces_to(self.answer_tap.on_piece)

    # -- building blocks ---------------------------------------------------------------------
    def _open_repl(self, context: Context, depth: int) -> tuple[REPL, Toolkit]:
        settings = self.state.settings
        toolkit = new_toolkit(settings, context, self.subcalls, depth=depth)
        return settings.repl_factory(toolkit, max_output_chars=settings.max_output_chars), toolkit

    @contextmanager
    def _repl(self, context: Context, depth: int) -> Iterator[tuple[REPL, Toolkit]]:
        repl, toolkit = self._open_repl(context, depth)
        try:
            yield repl, toolkit
        finally:
            repl.close()

    @asynccontextmanager
    async def _arepl(self, context: Context, depth: int) -> AsyncIterator[tuple[REPL, Toolkit]]:
        """``_repl`` for the async path: starting a REPL (for the isolated backend, a worker
        process and its handshake) and closing it run in a worker thread, off the loop."""
        opening = asyncio.get_running_loop().run_in_executor(None, self._open_repl, context, depth)
        try:
            repl, toolkit = await asyncio.shield(opening)
        except asyncio.CancelledError:  # the REPL may still arrive: close it when it does
            opening.add_done_callback(_close_when_opened)
            raise
        try:
            yield repl, toolkit
        finally:
            await asyncio.shield(asyncio.to_thread(repl.close))

    @contextmanager
    def _top_repl(self, context: Context) -> Iterator[tuple[REPL, Toolkit]]:
        """The session's REPL (left open) or a REPL for this run alone."""
        settings = self.state.settings
        if self.workspace is None:
            with self._repl(context, 0) as pair:
                self.trace.metadata["repl_backend"] = choice_of(settings.repl_factory)
                yield pair
        else:
            pair = self.workspace.attach(settings, context, self.subcalls)
            self.trace.metadata["repl_backend"] = choice_of(settings.repl_factory)
            yield pair

    @asynccontextmanager
    async def _top_arepl(self, context: Context) -> AsyncIterator[tuple[REPL, Toolkit]]:
        """``_top_repl`` for the async path (the REPL opens and closes off the loop)."""
        settings = self.state.settings
        if self.workspace is None:
            async with self._arepl(context, 0) as pair:
                self.trace.metadata["repl_backend"] = choice_of(settings.repl_factory)
                yield pair
        else:
            pair = await asyncio.to_thread(self.workspace.attach, settings, context, self.subcalls)
            self.trace.metadata["repl_backend"] = choice_of(settings.repl_factory)
            yield pair

    def _loop(
        self, repl: REPL, toolkit: Toolkit, adapter: ModelAdapter, depth: int, parent: int | None
    ) -> RootLoop:
        loop = RootLoop(self.state, repl, toolkit, adapter, depth=depth, parent_id=parent)
        if depth == 0 and self.workspace is not None:
            loop.transcript_variable = "transcript"
        return loop

    # -- top level ---------------------------------------------------------------------------
    def run(
        self,
        query: str,
        context: Context,
        metadata: dict[str, Any] | None,
        *,
        setup: Callable[[REPL], None] | None = None,
        note: str | None = None,
        output: OutputSpec | None = None,
    ) -> Any:
        """The answer to ``query``; ``setup`` prepares the REPL first, ``note`` (e.g. the
        session's earlier turns) is shown to the model with the question."""
        self._start(query, metadata)
        try:
            with self._streaming(output), self._top_repl(context) as (repl, toolkit):
                if setup is not None:
                    setup(repl)
                loop = self._loop(repl, toolkit, self.state.settings.adapter, 0, None)
                answer = drive(loop.run(query, metadata, note=note, output=output), repl)
        except BaseException as error:
            self._failed(error)
            raise
        return self._finished(answer, output)

    async def arun(
        self,
        query: str,
        context: Context,
        metadata: dict[str, Any] | None,
        *,
        setup: Callable[[REPL], None] | None = None,
        note: str | None = None,
        output: OutputSpec | None = None,
    ) -> Any:
        self._start(query, metadata)
        try:
            with self._streaming(output):
                async with self._top_arepl(context) as (repl, toolkit):
                    if setup is not None:
                        await asyncio.to_thread(setup, repl)
                    loop = self._loop(repl, toolkit, self.state.settings.adapter, 0, None)
                    run = loop.run(query, metadata, note=note, output=output)
                    answer = await adrive(run, repl)
        except BaseException as error:
            self._failed(error)
            raise
        return self._finished(answer, output)

    # -- recursive sub-runs (called by the sub-call runner) ----------------------------------
    def _sub_run(self, instruction: str | None, text: str, depth: int, parent: int) -> str:
        context = Context.from_text(text)
        query = instruction or prompts.SUB_RUN_QUERY
        with self._repl(context, depth) as (repl, toolkit):
            loop = self._loop(repl, toolkit, self.state.settings.subcall_adapter, depth, parent)
            return str(drive(loop.run(query, context.metadata()), repl))

    async def _async_sub_run(
        self, instruction: str | None, text: str, depth: int, parent: int
    ) -> str:
        context = Context.from_text(text)
        query = instruction or prompts.SUB_RUN_QUERY
        async with self._arepl(context, depth) as (repl, toolkit):
            loop = self._loop(repl, toolkit, self.state.settings.subcall_adapter, depth, parent)
            return str(await adrive(loop.run(query, context.metadata()), repl))

    # -- lifecycle events --------------------------------------------------------------------
    def _start(self, query: str, metadata: dict[str, Any] | None) -> None:
        self.trace.query = query
        chosen = self.state.settings.chosen
        self.trace.metadata = {"run_id": self.state.run_id, "context": metadata, "settings": chosen}
        self.state.emit("run_start", query=query, context=metadata, settings=chosen)

    def _finished(self, answer: Any, output: OutputSpec | None = None) -> Any:
        self.trace.answer = answer if output is None else output.as_text(answer)
        budget = self.state.budget
        self.trace.metadata.update(subcalls=budget.subcalls, total_tokens=budget.total_tokens)
        if budget.prices:
            self.trace.metadata["cost_usd"] = budget.cost_usd
        self.state.emit("run_end", answer=answer, trace=self.trace)
        return answer

    def _failed(self, error: BaseException) -> None:
        """Keep the partial trace on the error and announce the failure."""
        self.trace.error = f"{type(error).__name__}: {error}"
        if isinstance(error, RLMError):
            error.trace = self.trace
        self.state.emit("run_error", error=error, trace=self.trace)


def _close_when_opened(opening: asyncio.Future[tuple[REPL, Toolkit]]) -> None:
    """Close a REPL whose run was cancelled while it started. Closing may block, so it runs
    in a thread of its own: the loop's executor may be shut down already (``asyncio.run``
    ending with a streamed answer left unread)."""
    if opening.cancelled() or opening.exception() is not None:
        return
    repl = opening.result()[0]
    threading.Thread(target=repl.close, name="rlm-close-repl").start()


def _answer_tap(settings: EngineSettings, state: RunState) -> AnswerTap:
    """A tap that streams the answer as ``answer_delta`` events, knowing the run's guards
    and whether a budget could still end the run after a reply."""
    policy = settings.policy
    return AnswerTap(
        lambda text: state.emit("answer_delta", text=text),
        need_repl=settings.guards.require_repl_before_final,
        need_subcall=settings.guards.require_subcall_before_final,
        token_budget=policy.max_total_tokens is not None or policy.max_cost_usd is not None,
        refuses=nothing_found if settings.auto_finalize_var is not None else None,
    )
