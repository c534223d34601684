"""Perform a loop's effects: synchronously, or on an event loop without blocking it."""

from __future__ import annotations

import asyncio
from typing import Any

from rlm_core.adapters.base import acomplete
from rlm_core.engine.loop import ExecCall, LoopGen, ModelCall
from rlm_core.events import in_step
from rlm_core.repl.base import REPL


def drive(loop: LoopGen, repl: REPL) -> Any:
    """Run ``loop`` to its answer, calling adapters and the REPL in this thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = loop.send(value) if error is None else loop.throw(error)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            if isinstance(effect, ModelCall):
                with in_step(effect.step):
                    value = effect.adapter.complete(
                        effect.messages,
                        max_tokens=effect.max_tokens,
                        temperature=effect.temperature,
                    )
            else:
                value = repl.exec(effect.code)
        except Exception as exc:
            error = exc


async def adrive(loop: LoopGen, repl: REPL) -> Any:
    """Like ``drive``, but model calls are awaited and REPL code runs in a worker thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = loop.send(value) if error is None else loop.throw(error)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            if isinstance(effect, ModelCall):
                with in_step(effect.step):
                    value = await acomplete(
                        effect.adapter,
                        effect.messages,
                        max_tokens=effect.max_tokens,
                        temperature=effect.temperature,
                    )
            else:
                assert isinstance(effect, ExecCall)
                value = await asyncio.to_thread(repl.exec, effect.code)
        except Exception as exc:
            error = exc
