"""Sub-calls: batching, bounded parallelism, failures, recursion, windows, cache."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from rlm_core import Context, FileCache, Policy, SubcallTooLargeError
from rlm_core.adapters import FakeAdapter, ModelResponse, Usage

from tests.core.helpers import SUB, code, make_rlm

CTX = Context.from_text("alpha beta gamma delta")
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class CountingAdapter:
    """Root replies from a script; sub-calls sleep a little and record concurrency."""

    model = "counting"

    def __init__(self, script: list[str], *, fail_on: str | None = None) -> None:
        self.script = list(script)
        self.fail_on = fail_on
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.seen_request_ids: list[str] = []

    def complete(self, messages: list[dict[str, str]], **_: object) -> ModelResponse:
        if not messages[0]["content"].startswith(SUB):
            return ModelResponse(self.script.pop(0), Usage(10, 10))
        prompt = messages[-1]["content"]
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.seen_request_ids.append(REQUEST_ID.get())
        try:
            time.sleep(0.01)
            if self.fail_on is not None and self.fail_on in prompt:
                raise RuntimeError(f"cannot answer {prompt!r}")
            return ModelResponse(f"echo:{prompt}", Usage(5, 5))
        finally:
            with self.lock:
                self.active -= 1


def _rlm(adapter: CountingAdapter, **options: object):  # type: ignore[no-untyped-def]
    import warnings

    from rlm_core import RLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter=adapter, repl_backend="python", **options)  # type: ignore[arg-type]


def test_llm_batch_is_parallel_bounded_and_ordered() -> None:
    adapter = CountingAdapter([code("r = llm_batch([f'p{i}' for i in range(12)])"), "FINAL_VAR: r"])
    answer, trace = _rlm(adapter, max_concurrent_subcalls=4).run("q", CTX)
    assert answer == str([f"echo:p{i}" for i in range(12)])
    assert 1 < adapter.peak <= 4
    subcalls = trace.of_kind("subcall")
    assert len(subcalls) == 12
    exec_id = trace.of_kind("repl_exec")[0].step_id
    assert {s.parent_id for s in subcalls} == {exec_id}


def test_ask_chunks_sequential_by_default_parallel_when_enabled() -> None:
    script = [code("r = ask_chunks('q?', ['a', 'b', 'c', 'd'])"), "FINAL_VAR: r"]
    sequential = CountingAdapter(list(script))
    _rlm(sequential).run("q", CTX)
    assert sequential.peak == 1
    parallel = CountingAdapter(list(script))
    _rlm(parallel, parallel_subcalls=True).run("q", CTX)
    assert parallel.peak > 1
    per_call = CountingAdapter(
        [code("r = ask_chunks('q?', ['a', 'b', 'c'], parallel=True)"), "FINAL_VAR: r"]
    )
    _rlm(per_call).run("q", CTX)
    assert per_call.peak > 1


def test_failing_item_does_not_lose_the_others() -> None:
    adapter = CountingAdapter(
        [code("r = llm_batch(['ok1', 'bad', 'ok2'])"), "FINAL_VAR: r"], fail_on="bad"
    )
    answer, trace = _rlm(adapter).run("q", CTX)
    assert "echo:ok1" in answer and "echo:ok2" in answer
    assert "[error: RuntimeError: cannot answer 'bad']" in answer
    failed = [s for s in trace.of_kind("subcall") if s.error]
    assert len(failed) == 1 and "cannot answer" in failed[0].error  # type: ignore[operator]


def test_worker_threads_see_the_callers_contextvars() -> None:
    adapter = CountingAdapter([code("r = llm_batch(['a', 'b', 'c', 'd'])"), "FINAL: done"])
    token = REQUEST_ID.set("req-42")
    try:
        _rlm(adapter).run("q", CTX)
    finally:
        REQUEST_ID.reset(token)
    assert adapter.seen_request_ids == ["req-42"] * 4


def test_subcall_adapter_and_max_tokens_are_used() -> None:
    root = FakeAdapter([code("r = llm_query('hello')"), "FINAL_VAR: r"])
    sub = FakeAdapter(default="from the cheap model", model="cheap")
    seen: list[int] = []
    original = sub.complete

    def spy(messages: list[dict[str, str]], *, max_tokens: int = 0, temperature: float = 0.0):  # type: ignore[no-untyped-def]
        seen.append(max_tokens)
        return original(messages, max_tokens=max_tokens, temperature=temperature)

    sub.complete = spy  # type: ignore[method-assign]
    rlm = _rlm(root, subcall_adapter=sub, subcall_max_output_tokens=77)  # type: ignore[arg-type]
    answer, trace = rlm.run("q", CTX)
    assert answer == "from the cheap model"
    assert seen == [77]
    assert trace.of_kind("subcall")[0].model == "cheap"


def test_model_argument_selects_an_adapter_or_explains() -> None:
    root = FakeAdapter(
        [
            code(
                "a = llm_query('x', model='root')\ntry:\n    llm_query('x', model='gpt-9')\n"
                "except ValueError as e:\n    err = str(e)"
            ),
            "FINAL_VAR: err",
        ],
        model="big",
    )
    root.add_rule(SUB, "answered")
    answer, _ = _rlm(root).run("q", CTX)  # type: ignore[arg-type]
    assert "unknown model 'gpt-9'" in answer and "big" in answer


def test_prompt_too_large_for_the_sub_model_is_caught_before_sending() -> None:
    class Small(FakeAdapter):
        context_window = 1000

    sub = Small(default="should not be called", model="tiny")
    root = FakeAdapter(
        [
            code(
                "try:\n    llm_query(P)\n"
                "except Exception as e:\n    err = type(e).__name__ + str(e)"
            ),
            "FINAL_VAR: err",
        ]
    )
    big = Context.from_text("word " * 5000)
    answer, trace = _rlm(root, subcall_adapter=sub).run("q", big)  # type: ignore[arg-type]
    assert answer.startswith("SubcallTooLargeError")
    assert "ctx.chunk" in answer or "ask_chunks" in answer
    assert sub.calls == []
    assert not trace.of_kind("subcall")
    assert issubclass(SubcallTooLargeError, ValueError)


def test_recursive_subcalls_run_sub_loops() -> None:
    root = FakeAdapter([code("r = ask('What number?', 'The number is 99.')"), "FINAL_VAR: r"])
    sub = FakeAdapter([code("hits = grep('number')\nprint(hits)"), "FINAL: 99"], model="sub")
    rlm = _rlm(root, subcall_adapter=sub, recursive_subcalls=True, max_recursion_depth=1)  # type: ignore[arg-type]
    answer, trace = rlm.run("q", CTX)
    assert answer == "99"
    kinds = [s.kind for s in trace.steps]
    assert kinds == [
        "root_call",
        "repl_exec",
        "recursive_subcall",
        "sub_root_call",
        "sub_repl_exec",
        "sub_root_call",
        "root_call",
    ]
    recursive = trace.of_kind("recursive_subcall")[0]
    assert {s.parent_id for s in trace.of_kind("sub_root_call", "sub_repl_exec")} == {
        recursive.step_id
    }
    assert "What number?" in sub.calls[0][1]["content"]


def test_recursion_stops_at_max_depth_with_plain_subcalls() -> None:
    root = FakeAdapter([code("r = llm_query('outer')"), "FINAL_VAR: r"])
    sub = FakeAdapter([code("r = llm_query('inner')"), "FINAL_VAR: r"], model="sub")
    sub.add_rule(SUB, "leaf answer")
    rlm = _rlm(root, subcall_adapter=sub, recursive_subcalls=True, max_recursion_depth=1)  # type: ignore[arg-type]
    answer, trace = rlm.run("q", CTX)
    assert answer == "leaf answer"
    leaf = trace.of_kind("sub_subcall")
    assert len(leaf) == 1 and leaf[0].depth == 2


def test_file_cache_reuses_replies_and_keys_on_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = FileCache(tmp_path)
    script = [code("r = llm_batch(['same', 'same', 'other'])"), "FINAL_VAR: r"]
    first = CountingAdapter(list(script))
    _rlm(first, cache=cache, parallel_subcalls=False).run("q", CTX)
    second = CountingAdapter(list(script))
    answer, trace = _rlm(second, cache=cache).run("q", CTX)
    assert "echo:same" in answer
    assert all(step.cache_hit for step in trace.of_kind("subcall"))
    assert second.seen_request_ids == []  # nothing reached the model
    other_model = CountingAdapter(list(script))
    other_model.model = "another-model"
    _, trace3 = _rlm(other_model, cache=cache).run("q", CTX)
    assert not any(step.cache_hit for step in trace3.of_kind("subcall"))


def test_json_and_record_helpers() -> None:
    root = FakeAdapter(
        [
            code(
                "j = llm_query_json('QJSON')\n"
                "bj = llm_batch_json(['QONE', 'QTWO'])\n"
                "recs = llm_query_records('QPEOPLE', fields=['name'])\n"
                "brecs = llm_batch_records(['QREC1', 'QREC2'])\n"
                "out = (j, bj, recs, brecs)"
            ),
            "FINAL_VAR: out",
        ]
    )
    root.add_rule("QJSON", '```json\n{"k": 1}\n```')
    root.add_rule("QONE", '{"n": 1}')
    root.add_rule("QTWO", "not json at all")
    root.add_rule("QPEOPLE", 'Here: [{"name": "Ada"}, {"name": "Alan"}, 3]')
    root.add_rule("QREC", '{"items": [{"x": 1}]}')
    answer, _ = _rlm(root).run("q", CTX)  # type: ignore[arg-type]
    assert answer == str(
        ({"k": 1}, [{"n": 1}, None], [{"name": "Ada"}, {"name": "Alan"}], [[{"x": 1}], [{"x": 1}]])
    )


def test_subcall_budget_in_batches_counts_each_item() -> None:
    rlm, adapter = make_rlm(
        [code("r = llm_batch(['a'] * 5)"), "FINAL: done"], policy=Policy(max_subcalls=3)
    )
    adapter.add_rule(SUB, "x")
    answer, trace = rlm.run("q", CTX)
    assert answer == "done"
    assert len(trace.of_kind("subcall")) == 3


def test_bad_max_tokens_in_model_code_is_a_clear_error() -> None:
    rlm, adapter = make_rlm([code("llm_query('x', max_tokens=-1)"), "FINAL: ok"])
    adapter.add_rule(SUB, "x")
    rlm.run("q", CTX)
    assert "max_tokens must be a positive int" in adapter.calls[1][-1]["content"]


@pytest.mark.parametrize("helper", ["peek(5)", "tail(5)", "lenP()", "extract_after('beta')"])
def test_context_helpers(helper: str) -> None:
    rlm, _ = make_rlm([code(f"r = {helper}"), "FINAL_VAR: r"])
    expected = {
        "peek(5)": "alpha",
        "tail(5)": "delta",
        "lenP()": "22",
        "extract_after('beta')": "gamma",
    }[helper]
    assert rlm.run("q", CTX)[0] == expected


def test_grep_show_vars_and_pick_first_answer() -> None:
    rlm, adapter = make_rlm(
        [
            code(
                "hits = grep('GAMMA', window=3)\nprint(hits)\nprint(SHOW_VARS())\n"
                "best = pick_first_answer(['', 'NOT FOUND', ' yes '])"
            ),
            "FINAL_VAR: best",
        ]
    )
    assert rlm.run("q", CTX)[0] == "yes"
    feedback = adapter.calls[1][-1]["content"]
    assert "[@11] ta gamma de" in feedback
    assert "hits: list len=1" in feedback


def test_ask_chunks_first_stops_at_first_real_answer() -> None:
    rlm, adapter = make_rlm(
        [code("r = ask_chunks_first('where?', ['x', 'has it', 'y'])"), "FINAL_VAR: r"]
    )
    adapter.add_rule("has it", "found here")
    adapter.add_rule(SUB, "NOT FOUND")
    answer, trace = rlm.run("q", CTX)
    assert answer == "found here"
    assert len(trace.of_kind("subcall")) == 2
