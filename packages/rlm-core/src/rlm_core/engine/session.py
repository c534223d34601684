"""One run end to end: REPL set-up, the root loop, recursive sub-runs, clean-up, errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rlm_core.adapters.base import ModelAdapter
from rlm_core.context import Context
from rlm_core.engine import prompts
from rlm_core.engine.drive import adrive, drive
from rlm_core.engine.loop import RootLoop
from rlm_core.engine.settings import EngineSettings, RunState
from rlm_core.engine.subcalls import SubcallRunner
from rlm_core.engine.toolkit import Toolkit
from rlm_core.errors import RLMError
from rlm_core.events import EventBus, TraceRecorder
from rlm_core.repl.base import REPL
from rlm_core.repl.selection import choice_of
from rlm_core.trace import Trace


class Session:
    """Holds the shared state of one top-level run and its recursive sub-runs."""

    def __init__(
        self,
        settings: EngineSettings,
        bus: EventBus,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.trace = Trace()
        bus.subscribe(TraceRecorder(self.trace))
        self.state = RunState(settings, bus, self.trace, run_id=uuid.uuid4().hex, loop=loop)
        self.subcalls = SubcallRunner(
            self.state, sub_run=self._sub_run, async_sub_run=self._async_sub_run
        )

    # -- building blocks ---------------------------------------------------------------------
    @contextmanager
    def _repl(self, context: Context, depth: int) -> Iterator[tuple[REPL, Toolkit]]:
        settings = self.state.settings
        toolkit = Toolkit(
            context,
            self.subcalls,
            retriever=settings.retriever,
            depth=depth,
            parallel_default=settings.parallel_subcalls,
        )
        repl = settings.repl_factory(toolkit, max_output_chars=settings.max_output_chars)
        if depth == 0:
            self.trace.metadata["repl_backend"] = choice_of(settings.repl_factory)
        try:
            yield repl, toolkit
        finally:
            repl.close()

    def _loop(
        self, repl: REPL, toolkit: Toolkit, adapter: ModelAdapter, depth: int, parent: int | None
    ) -> RootLoop:
        return RootLoop(self.state, repl, toolkit, adapter, depth=depth, parent_id=parent)

    # -- top level ---------------------------------------------------------------------------
    def run(self, query: str, context: Context, metadata: dict[str, Any] | None) -> str:
        self._start(query, metadata)
        try:
            with self._repl(context, 0) as (repl, toolkit):
                loop = self._loop(repl, toolkit, self.state.settings.adapter, 0, None)
                answer = drive(loop.run(query, metadata), repl)
        except BaseException as error:
            self._failed(error)
            raise
        return self._finished(answer)

    async def arun(self, query: str, context: Context, metadata: dict[str, Any] | None) -> str:
        self._start(query, metadata)
        try:
            with self._repl(context, 0) as (repl, toolkit):
                loop = self._loop(repl, toolkit, self.state.settings.adapter, 0, None)
                answer = await adrive(loop.run(query, metadata), repl)
        except BaseException as error:
            self._failed(error)
            raise
        return self._finished(answer)

    # -- recursive sub-runs (called by the sub-call runner) ----------------------------------
    def _sub_run(self, instruction: str | None, text: str, depth: int, parent: int) -> str:
        context = Context.from_text(text)
        query = instruction or prompts.SUB_RUN_QUERY
        with self._repl(context, depth) as (repl, toolkit):
            loop = self._loop(repl, toolkit, self.state.settings.subcall_adapter, depth, parent)
            return drive(loop.run(query, context.metadata()), repl)

    async def _async_sub_run(
        self, instruction: str | None, text: str, depth: int, parent: int
    ) -> str:
        context = Context.from_text(text)
        query = instruction or prompts.SUB_RUN_QUERY
        with self._repl(context, depth) as (repl, toolkit):
            loop = self._loop(repl, toolkit, self.state.settings.subcall_adapter, depth, parent)
            return await adrive(loop.run(query, context.metadata()), repl)

    # -- lifecycle events --------------------------------------------------------------------
    def _start(self, query: str, metadata: dict[str, Any] | None) -> None:
        self.trace.query = query
        chosen = self.state.settings.chosen
        self.trace.metadata = {"run_id": self.state.run_id, "context": metadata, "settings": chosen}
        self.state.emit("run_start", query=query, context=metadata, settings=chosen)

    def _finished(self, answer: str) -> str:
        self.trace.answer = answer
        budget = self.state.budget
        self.trace.metadata.update(subcalls=budget.subcalls, total_tokens=budget.total_tokens)
        self.state.emit("run_end", answer=answer, trace=self.trace)
        return answer

    def _failed(self, error: BaseException) -> None:
        """Keep the partial trace on the error and announce the failure."""
        self.trace.error = f"{type(error).__name__}: {error}"
        if isinstance(error, RLMError):
            error.trace = self.trace
        self.state.emit("run_error", error=error, trace=self.trace)
