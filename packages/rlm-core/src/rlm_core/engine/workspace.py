"""A REPL and the helpers it calls, kept alive across the turns of a session.

A plain run opens a workspace for its one turn and closes it at the end; a session keeps one
open from its first turn to ``close()``, so variables (and the isolated worker) survive
between turns. Each turn rebinds the helpers to that turn's sub-call runner.
"""

from __future__ import annotations

import ast
import contextlib
from typing import TYPE_CHECKING, Any

from rlm_core.context import Context
from rlm_core.engine.toolkit import Toolkit
from rlm_core.repl.base import REPL, ExecResult
from rlm_core.repl.monty_names import bound_names

if TYPE_CHECKING:
    from rlm_core.engine.settings import EngineSettings
    from rlm_core.engine.subcalls import SubcallRunner


class TrackedREPL:
    """A REPL that remembers the top-level names model code binds (for ``Session.save``)."""

    def __init__(self, repl: REPL) -> None:
        self.inner = repl
        self.names: set[str] = set()

    def exec(self, code: str) -> ExecResult:
        with contextlib.suppress(SyntaxError):
            self.names |= bound_names(ast.parse(code))
        return self.inner.exec(code)

    def get(self, name: str) -> Any:
        return self.inner.get(name)

    def set(self, name: str, value: Any) -> None:
        self.inner.set(name, value)

    def close(self) -> None:
        self.inner.close()


class Workspace:
    """The REPL of one conversation (``depth`` 0) and its ``Toolkit``; opened on first use."""

    def __init__(self) -> None:
        self.repl: TrackedREPL | None = None
        self.toolkit: Toolkit | None = None

    @property
    def is_open(self) -> bool:
        return self.repl is not None

    def attach(
        self, settings: EngineSettings, context: Context, subcalls: SubcallRunner
    ) -> tuple[REPL, Toolkit]:
        """The REPL and toolkit for a turn: created with ``context`` the first time, later
        the same ones with the helpers bound to this turn's ``subcalls``."""
        if self.repl is None or self.toolkit is None:
            self.toolkit = new_toolkit(settings, context, subcalls, depth=0)
            self.repl = TrackedREPL(
                settings.repl_factory(self.toolkit, max_output_chars=settings.max_output_chars)
            )
        else:
            self.toolkit.subcalls = subcalls
        return self.repl, self.toolkit

    def close(self) -> None:
        repl, self.repl, self.toolkit = self.repl, None, None
        if repl is not None:
            repl.close()


def new_toolkit(
    settings: EngineSettings, context: Context, subcalls: SubcallRunner, *, depth: int
) -> Toolkit:
    return Toolkit(
        context,
        subcalls,
        retriever=settings.retriever,
        depth=depth,
        parallel_default=settings.parallel_subcalls,
        tools=settings.tools,
    )
