"""A cancelled ``aquery`` leaves no step span open, and nothing of it lands in later runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler

from rlm_llamaindex import RLMQueryEngine, RLMStepEvent

from .helpers import DOCS, EventRecorder, code, scripted_llm

SLOW_STEP = code("import time\ntime.sleep(0.6)\nprint('slept')")


def _step_spans(handler: SimpleSpanHandler) -> tuple[list[str], list[Any]]:
    open_ = [span_id for span_id in handler.open_spans if span_id.startswith("RLMStep.")]
    dropped = [span for span in handler.dropped_spans if span.id_.startswith("RLMStep.")]
    return open_, dropped


async def _cancelled(engine: RLMQueryEngine) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(engine.aquery("q"), timeout=0.2)


def test_a_cancelled_run_drops_the_span_of_its_running_step(
    spans: SimpleSpanHandler, events: EventRecorder
) -> None:
    debug = LlamaDebugHandler()
    manager = CallbackManager([debug])
    llm, _ = scripted_llm([SLOW_STEP, "FINAL: never"])
    engine = RLMQueryEngine(
        llm=llm, documents=DOCS, repl_backend="python", callback_manager=manager
    )
    later_llm, _ = scripted_llm([code("print(1)"), "FINAL: later"])
    later = RLMQueryEngine(
        llm=later_llm, documents=DOCS, repl_backend="python", callback_manager=manager
    )

    async def main() -> str:
        await _cancelled(engine)
        open_, dropped = _step_spans(spans)
        assert open_ == []
        assert [span.id_.split("-")[0] for span in dropped] == ["RLMStep.repl_exec"]
        (cancelled_exec,) = debug.get_event_pairs(CBEventType.FUNCTION_CALL)
        assert cancelled_exec[1].payload is not None
        assert "exception" in cancelled_exec[1].payload  # ended with the cancellation
        answer = str(await later.aquery("q"))  # runs while the cancelled step still sleeps
        await asyncio.sleep(0.8)  # the cancelled step has ended by now
        return answer

    assert asyncio.run(main()) == "later"

    assert _step_spans(spans)[0] == []
    runs = {event.run_id for event in events.of("RLMStepEvent")}
    assert len(runs) == 2
    cancelled_run = events.of("RLMStepEvent")[0].run_id
    ends = [e for e in events.of("RLMStepEvent") if e.run_id == cancelled_run and e.phase == "end"]
    assert [e.kind for e in ends] == ["root_call"]  # the REPL step's late end is not reported
    function_calls = debug.get_event_pairs(CBEventType.FUNCTION_CALL)
    assert [len(pair) for pair in function_calls] == [2, 2]  # one per run, each ended once
    later_spans = {span.id_ for span in spans.completed_spans}
    assert all(
        isinstance(e, RLMStepEvent) and e.span_id in later_spans
        for e in events.of("RLMStepEvent")
        if e.run_id != cancelled_run
    )
