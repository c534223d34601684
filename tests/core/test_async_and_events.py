"""arun / astream / stream and the event stream that feeds the trace."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rlm_core import AdapterError, Context, Event, Trace
from rlm_core.adapters import FakeAdapter, ModelResponse, Usage

from tests.core.helpers import SUB, code, make_rlm

CTX = Context.from_text("one two three four five")


class AsyncAdapter:
    """Root replies from a script; sub-calls await a short sleep on the running loop."""

    model = "async-fake"

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.sub_threads: set[int] = set()
        self.sync_calls = 0
        self.active = 0
        self.peak = 0

    def complete(self, messages: list[dict[str, str]], **_: object) -> ModelResponse:
        self.sync_calls += 1
        raise AssertionError("arun must use acomplete")

    async def acomplete(self, messages: list[dict[str, str]], **_: object) -> ModelResponse:
        if not messages[0]["content"].startswith(SUB):
            return ModelResponse(self.script.pop(0), Usage(3, 3))
        self.sub_threads.add(threading.get_ident())
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0.02)
        self.active -= 1
        return ModelResponse("sub:" + messages[-1]["content"], Usage(1, 1))


def _rlm(adapter: object, **options: object):  # type: ignore[no-untyped-def]
    import warnings

    from rlm_core import RLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter=adapter, repl_backend="python", **options)  # type: ignore[arg-type]


async def test_arun_awaits_subcalls_on_the_loop_and_never_blocks_it() -> None:
    adapter = AsyncAdapter(
        [
            code("import time\ntime.sleep(0.2)\nr = llm_batch(['a', 'b', 'c', 'd'])"),
            "FINAL_VAR: r",
        ]
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    answer, trace = await _rlm(adapter, max_concurrent_subcalls=4).arun("q", CTX)
    task.cancel()
    assert answer == str(["sub:a", "sub:b", "sub:c", "sub:d"])
    assert ticks >= 10  # the loop kept running while REPL code slept in a worker thread
    assert adapter.sub_threads == {threading.get_ident()}  # sub-calls ran on the loop thread
    assert adapter.peak > 1
    assert adapter.sync_calls == 0
    assert len(trace.of_kind("subcall")) == 4


async def test_arun_with_sync_only_adapter_and_recursion() -> None:
    root = FakeAdapter([code("r = ask('which?', 'The pick is blue.')"), "FINAL_VAR: r"])
    sub = FakeAdapter([code("print(grep('pick'))"), "FINAL: blue"], model="sub")
    answer, trace = await _rlm(root, subcall_adapter=sub, recursive_subcalls=True).arun("q", CTX)
    assert answer == "blue"
    assert trace.of_kind("recursive_subcall") and trace.of_kind("sub_repl_exec")


async def test_arun_errors_keep_the_trace() -> None:
    rlm, _ = make_rlm([code("x = 1")])
    with pytest.raises(AdapterError) as info:
        await rlm.arun("q", CTX)
    assert info.value.trace is not None and len(info.value.trace.steps) == 3


def test_event_listener_sees_the_whole_run_in_order() -> None:
    events: list[Event] = []
    rlm, adapter = make_rlm(
        [code("r = llm_query('x')"), "FINAL_VAR: r"], event_listener=events.append
    )
    adapter.add_rule(SUB, "sub reply")
    answer, trace = rlm.run("q", CTX)
    types = [e.type for e in events]
    assert types[0] == "run_start" and types[-1] == "run_end"
    assert events[-1].data["answer"] == answer
    ends = [e.step for e in events if e.type == "step_end"]
    assert sorted(s.step_id for s in ends if s) == [s.step_id for s in trace.steps]
    starts = {e.step_id for e in events if e.type == "step_start"}
    assert starts == {s.step_id for s in trace.steps}
    sub_event = next(e for e in events if e.kind == "subcall" and e.type == "step_end")
    assert sub_event.parent_id == trace.of_kind("repl_exec")[0].step_id


def test_listener_objects_and_failing_listeners_do_not_break_runs() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.count = 0

        def on_event(self, event: Event) -> None:
            self.count += 1

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    recorder = Recorder()
    rlm, _ = make_rlm(["FINAL: fine"], event_listener=[broken, recorder])
    assert rlm.run("q", CTX)[0] == "fine"
    assert recorder.count >= 3


def test_stream_yields_events_live_then_run_end() -> None:
    rlm, _ = make_rlm([code("print('hi')"), "FINAL: streamed"])
    events = list(rlm.stream("q", CTX))
    assert events[0].type == "run_start"
    assert events[-1].type == "run_end" and events[-1].data["answer"] == "streamed"
    assert any(e.type == "step_end" and e.kind == "repl_exec" for e in events)


def test_stream_raises_after_the_error_event() -> None:
    rlm, _ = make_rlm([code("x = 1")])
    seen: list[str] = []
    with pytest.raises(AdapterError):
        for event in rlm.stream("q", CTX):
            seen.append(event.type)
    assert seen[-1] == "run_error"


async def test_astream_yields_events_on_the_loop() -> None:
    rlm, _ = make_rlm([code("print('hi')"), "FINAL: async streamed"])
    events = [event async for event in rlm.astream("q", CTX)]
    assert events[0].type == "run_start"
    assert events[-1].type == "run_end"
    assert events[-1].data["answer"] == "async streamed"


def test_trace_json_round_trip_keeps_every_field() -> None:
    rlm, adapter = make_rlm([code("r = llm_query('x')\nprint(r)"), "FINAL_VAR: r"])
    adapter.add_rule(SUB, "sub reply")
    _, trace = rlm.run("q", CTX)
    restored = Trace.from_json(trace.to_json())
    assert [s.to_dict() for s in restored.steps] == [s.to_dict() for s in trace.steps]
    assert restored.answer == "sub reply" and restored.query == "q"
    assert restored.usage == trace.usage and trace.usage.total_tokens > 0
    for step in trace.steps:
        assert step.elapsed_s >= 0 and step.started_at > 0
    with pytest.raises(ValueError, match="not a trace"):
        Trace.from_json("[1, 2]")


def test_api_keys_never_reach_the_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    from rlm_core.adapters import OpenAICompatAdapter

    monkeypatch.setenv("LLM_API_KEY", "sk-very-secret-123")
    adapter = OpenAICompatAdapter(model="m", base_url="http://127.0.0.1:9")
    assert "sk-very-secret-123" not in repr(adapter)
    rlm, _ = make_rlm([code("print(SHOW_VARS())"), "FINAL: ok"], subcall_adapter=adapter)
    _, trace = rlm.run("q", CTX)
    assert "sk-very-secret-123" not in trace.to_json()


def test_runs_are_independent_and_the_rlm_is_reusable_across_threads() -> None:
    script = [code("r = llm_query('x')"), "FINAL_VAR: r"]
    results: list[str] = []

    def one() -> None:
        adapter = FakeAdapter(list(script))
        adapter.add_rule(SUB, "threaded")
        rlm = _rlm(adapter)
        results.append(rlm.run("q", CTX)[0])

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["threaded"] * 4
    time.sleep(0)


def test_adapters_see_the_current_step_in_sync_and_async_runs() -> None:
    from rlm_core.events import current_step

    class StepAware(FakeAdapter):
        def __init__(self, script: list[str]) -> None:
            super().__init__(script)
            self.add_rule(SUB, "sub")
            self.seen: list[tuple[str, int | None]] = []

        def complete(self, messages, **kwargs):  # type: ignore[no-untyped-def, override]
            step = current_step.get()
            assert step is not None
            self.seen.append((step.kind, step.parent_id))
            return super().complete(messages, **kwargs)

    script = [code("r = llm_batch(['a', 'b'])"), "FINAL_VAR: r"]
    adapter = StepAware(list(script))
    _, trace = _rlm(adapter).run("q", CTX)
    exec_id = trace.of_kind("repl_exec")[0].step_id
    assert sorted(adapter.seen, key=str) == sorted(
        [("root_call", None), ("subcall", exec_id), ("subcall", exec_id), ("root_call", None)],
        key=str,
    )
    assert current_step.get() is None

    async_adapter = StepAware(list(script))
    asyncio.run(_rlm(async_adapter).arun("q", CTX))
    assert [kind for kind, _ in async_adapter.seen].count("subcall") == 2


async def test_async_batch_prepared_ahead_keeps_order_budget_and_event_pairs() -> None:
    from rlm_core import Policy

    events: list[Event] = []
    adapter = AsyncAdapter([code("r = llm_batch([f'p{i}' for i in range(40)])"), "FINAL_VAR: r"])
    rlm = _rlm(
        adapter,
        max_concurrent_subcalls=4,
        policy=Policy(max_subcalls=30),
        event_listener=events.append,
    )
    answer, trace = await rlm.arun("q", CTX)
    replies = eval(answer)  # the REPL value of r, a list of str
    assert replies[:30] == [f"sub:p{i}" for i in range(30)]
    assert all(reply.startswith("[error: MaxSubcallsExceeded") for reply in replies[30:])
    assert adapter.peak <= 4
    subcalls = trace.of_kind("subcall")
    assert len(subcalls) == 30
    order = [(e.type, e.step_id) for e in events if e.kind == "subcall"]
    for step in subcalls:
        assert order.index(("step_start", step.step_id)) < order.index(("step_end", step.step_id))
        assert step.started_at > 0 and step.elapsed_s >= 0


class FlakyAsync(AsyncAdapter):
    """Sub-calls whose text contains 'bad' raise in ``acomplete``; the others answer."""

    async def acomplete(self, messages: list[dict[str, str]], **kwargs: object) -> ModelResponse:
        if messages[0]["content"].startswith(SUB) and "bad" in messages[-1]["content"]:
            await asyncio.sleep(0)
            raise RuntimeError("model unavailable")
        return await super().acomplete(messages, **kwargs)


async def test_async_batch_failures_are_markers_and_every_step_is_accounted() -> None:
    events: list[Event] = []
    adapter = FlakyAsync([code("r = llm_batch(['a', 'bad1', 'b', 'bad2', 'c'])"), "FINAL_VAR: r"])
    rlm = _rlm(
        adapter,
        parallel_subcalls=True,
        max_concurrent_subcalls=2,
        prices={"async-fake": (1.0, 1.0)},
        event_listener=events.append,
    )
    answer, trace = await rlm.arun("q", CTX)
    replies = eval(answer)  # the REPL value of r, a list of str
    assert replies[0::2] == ["sub:a", "sub:b", "sub:c"]
    assert replies[1::2] == ["[error: RuntimeError: model unavailable]"] * 2
    steps = {step.prompt: step for step in trace.of_kind("subcall")}
    for prompt in ("a", "b", "c"):
        assert steps[prompt].response == f"sub:{prompt}" and steps[prompt].error is None
        assert steps[prompt].usage == Usage(1, 1)
        assert steps[prompt].metadata["cost_usd"] == pytest.approx(0.002)
    for prompt in ("bad1", "bad2"):
        assert steps[prompt].error == "RuntimeError: model unavailable"
        assert steps[prompt].usage is None and steps[prompt].elapsed_s >= 0
    assert trace.metadata["subcalls"] == 5
    assert trace.metadata["total_tokens"] == 3 * 2 + 2 * 6  # three sub-calls, two root calls
    ends = [e.step_id for e in events if e.type == "step_end" and e.kind == "subcall"]
    assert sorted(ends) == sorted(step.step_id for step in steps.values())


async def test_async_batch_with_a_sync_only_sub_model_runs_it_in_threads() -> None:
    root = AsyncAdapter([code("r = llm_batch(['x', 'y', 'z'])"), "FINAL_VAR: r"])
    sub = FakeAdapter([], model="sub")
    sub.add_rule(SUB, "threaded")
    answer, trace = await _rlm(
        root, subcall_adapter=sub, parallel_subcalls=True, max_concurrent_subcalls=3
    ).arun("q", CTX)
    assert eval(answer) == ["threaded"] * 3
    assert [step.response for step in trace.of_kind("subcall")] == ["threaded"] * 3
