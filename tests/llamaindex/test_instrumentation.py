"""Spans, instrumentation events and callback-manager events of a run."""

from __future__ import annotations

from typing import Any

from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler

from rlm_llamaindex import RLMQueryEngine, RLMRunEvent, RLMStepEvent

from .helpers import DOCS, EventRecorder, code, scripted_llm

BATCH = code('answers = llm_batch(["part one", "part two", "part three"])\nprint(answers)')


def _by_id(handler: SimpleSpanHandler) -> dict[str, Any]:
    return {span.id_: span for span in handler.completed_spans + handler.dropped_spans}


def _ancestors(spans: dict[str, Any], span_id: str) -> list[str]:
    chain = []
    parent = spans[span_id].parent_id
    while parent is not None:
        chain.append(parent)
        parent = spans[parent].parent_id if parent in spans else None
    return chain


def _one(spans: dict[str, Any], prefix: str) -> str:
    found = [span_id for span_id in spans if span_id.startswith(prefix)]
    assert len(found) == 1, found
    return found[0]


def _check_tree(handler: SimpleSpanHandler, subcalls: int, method: str = "query") -> None:
    spans = _by_id(handler)
    query = _one(spans, f"RLMQueryEngine.{method}-")
    inner = _one(spans, f"RLMQueryEngine._{method}-")
    assert spans[inner].parent_id == query
    steps = [s for s in spans if s.startswith("RLMStep.")]
    roots = [s for s in steps if s.startswith("RLMStep.root_call-")]
    execs = [s for s in steps if s.startswith("RLMStep.repl_exec-")]
    subs = [s for s in steps if s.startswith("RLMStep.subcall-")]
    assert (len(roots), len(execs), len(subs)) == (2, 1, subcalls)
    for step in steps:
        assert query in _ancestors(spans, step)
    for step in roots + execs:
        assert spans[step].parent_id == inner
    for sub in subs:
        assert spans[sub].parent_id == execs[0]
    # The LlamaIndex LLM calls nest under the step that made them, also in worker threads.
    calls = (".chat-", ".achat-", ".stream_chat-", ".astream_chat-")
    chats = [s for s in spans if any(call in s for call in calls)]
    assert set(roots) | set(subs) <= {spans[chat].parent_id for chat in chats}
    for sub in subs:
        assert any(spans[chat].parent_id == sub for chat in chats), sub
    for root in roots:
        assert any(spans[chat].parent_id == root for chat in chats), root


def test_sync_spans_nest_under_the_query_span_across_threads(spans: SimpleSpanHandler) -> None:
    llm, script = scripted_llm([BATCH, "FINAL: done"], sub=lambda text: f"seen {text}")
    engine = RLMQueryEngine(llm=llm, documents=DOCS, parallel_subcalls=True)

    assert engine.query("Summarise").response == "done"

    assert any(name.startswith("rlm-subcall") for name in script.sub_threads)
    _check_tree(spans, subcalls=3)


async def test_async_spans_nest_under_the_query_span(spans: SimpleSpanHandler) -> None:
    llm, _ = scripted_llm([BATCH, "FINAL: done"], sub=lambda text: f"seen {text}")
    engine = RLMQueryEngine(llm=llm, documents=DOCS, parallel_subcalls=True)

    assert (await engine.aquery("Summarise")).response == "done"

    _check_tree(spans, subcalls=3, method="aquery")


def test_failed_sub_call_drops_its_span(spans: SimpleSpanHandler) -> None:
    def failing(text: str) -> str:
        raise RuntimeError("provider down")

    llm, _ = scripted_llm([code('print(llm_query("x"))'), "FINAL: recovered"], sub=failing)
    engine = RLMQueryEngine(llm=llm, documents=DOCS)

    assert engine.query("q").response == "recovered"

    dropped = [span.id_ for span in spans.dropped_spans]
    assert any(span_id.startswith("RLMStep.subcall-") for span_id in dropped)


def test_events_cover_the_query_and_every_step(events: EventRecorder) -> None:
    llm, _ = scripted_llm([code('print(llm_query("x"))'), "FINAL: done"], sub="y")
    engine = RLMQueryEngine(llm=llm, documents=DOCS)

    engine.query("q")

    assert len(events.of("QueryStartEvent")) == 1
    assert len(events.of("QueryEndEvent")) == 1
    steps: list[RLMStepEvent] = events.of("RLMStepEvent")
    starts = [(e.step_id, e.kind) for e in steps if e.phase == "start"]
    ends = [(e.step_id, e.kind) for e in steps if e.phase == "end"]
    assert sorted(starts) == sorted(ends)
    assert [kind for _, kind in starts] == ["root_call", "repl_exec", "subcall", "root_call"]
    by_phase = {(e.step_id, e.phase): e for e in steps}
    subcall_id = next(step_id for step_id, kind in starts if kind == "subcall")
    exec_id = next(step_id for step_id, kind in starts if kind == "repl_exec")
    assert by_phase[(subcall_id, "start")].parent_step_id == exec_id
    assert by_phase[(subcall_id, "end")].response == "y"
    assert by_phase[(subcall_id, "start")].span_id == by_phase[(subcall_id, "end")].span_id
    assert by_phase[(subcall_id, "start")].span_id.startswith("RLMStep.subcall-")
    runs: list[RLMRunEvent] = events.of("RLMRunEvent")
    assert [e.type for e in runs] == ["run_start", "run_end"]
    assert runs[-1].detail["answer"] == "done"
