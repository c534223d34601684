"""Perform a loop's effects: synchronously, or on an event loop without blocking it."""

from __future__ import annotations

import asyncio
import contextvars
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
    """Like ``drive``, but model calls are awaited and everything that touches the REPL
    runs in a worker thread: the code, and the loop's own steps (they read and set REPL
    variables, which for a sandboxed REPL is a round trip to its worker process).

    The loop's steps and its model calls all run in one ``contextvars`` context, as they
    would on one thread, so what a step sets (the active tracing span, say) is seen by the
    model call it makes.
    """
    context = contextvars.copy_context()
    value: Any = None
    error: BaseException | None = None
    while True:
        effect, answer = await asyncio.to_thread(context.run, _advance, loop, repl, value, error)
        if effect is None:
            return answer
        value, error = None, None
        try:
            value = await asyncio.create_task(_model_call(effect), context=context)
        except Exception as exc:
            error = exc


async def _model_call(effect: ModelCall) -> Any:
    with in_step(effect.step):
        return await acomplete(
            effect.adapter,
            effect.messages,
            max_tokens=effect.max_tokens,
            temperature=effect.temperature,
        )


def _advance(
    loop: LoopGen, repl: REPL, value: Any, error: BaseException | None
) -> tuple[ModelCall | None, Any]:
    """Run ``loop`` (and the code it asks for) up to its next model call or its answer."""
    while True:
        try:
            effect = loop.send(value) if error is None else loop.throw(error)
        except StopIteration as stop:
            return None, stop.value
        if isinstance(effect, ModelCall):
            return effect, None
        assert isinstance(effect, ExecCall)
        value, error = None, None
        try:
            value = repl.exec(effect.code)
        except Exception as exc:
            error = exc
