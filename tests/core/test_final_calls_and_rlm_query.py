"""FINAL() / FINAL_VAR() in code end the run; rlm_query runs a recursive sub-RLM on demand."""

from __future__ import annotations

import warnings

import pytest

from rlm_core import RLM, MaxRecursionExceeded, Policy
from rlm_core.adapters import FakeAdapter

from .helpers import code

BACKENDS = ["isolated", "python", "monty"]


def make(adapter: FakeAdapter, backend: str, **options: object) -> RLM:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter, repl_backend=backend, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_final_called_in_code_ends_the_run_after_that_step(backend: str) -> None:
    adapter = FakeAdapter(
        script=[code("hits = P.count('x')\nFINAL(f'{hits} hits')\nprint('after')")]
    )
    answer, trace = make(adapter, backend).run("how many x?", "x y x")
    assert answer == "2 hits"
    assert [step.stdout for step in trace.of_kind("repl_exec")] == ["after\n"]
    assert adapter.remaining == 0 and len(adapter.calls) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_final_var_called_in_code_answers_with_the_variable(backend: str) -> None:
    adapter = FakeAdapter(script=[code("result = len(P)\nFINAL_VAR('result')")])
    answer, _ = make(adapter, backend).run("how long?", "abcd")
    assert answer == "4"


@pytest.mark.parametrize("backend", BACKENDS)
def test_final_var_of_a_missing_variable_is_told_to_the_model(backend: str) -> None:
    adapter = FakeAdapter(script=[code("FINAL_VAR('nothing')"), "FINAL: recovered"])
    answer, _ = make(adapter, backend).run("q", "text")
    assert answer == "recovered"
    assert "'nothing' is not defined" in adapter.calls[1][-1]["content"]


def test_final_var_needs_a_name() -> None:
    adapter = FakeAdapter(script=[code("FINAL_VAR(42)"), "FINAL: ok"])
    make(adapter, "python").run("q", "text")
    assert "FINAL_VAR takes the variable's name as a string" in adapter.calls[1][-1]["content"]


def test_the_helpers_are_listed_in_the_system_prompt() -> None:
    adapter = FakeAdapter(script=["FINAL: x"])
    make(adapter, "python").run("q", "text")
    system = adapter.calls[0][0]["content"]
    assert "- FINAL(answer)" in system and "- FINAL_VAR(name)" in system
    assert "- rlm_query(prompt, context=None) -> str" in system


@pytest.mark.parametrize("backend", BACKENDS)
def test_rlm_query_runs_a_sub_rlm_even_without_recursive_subcalls(backend: str) -> None:
    adapter = FakeAdapter(script=[code("r = rlm_query('what is the code?', 'the code is 7')")])
    # The sub-RLM's own loop: it reads its context and answers.
    adapter.add_rule("Question: what is the code?", code("FINAL(P.split()[-1])"))
    adapter.extend(["FINAL_VAR: r"])
    answer, trace = make(adapter, backend, recursive_subcalls=False).run("find it", "text")
    assert answer == "7"
    (sub,) = trace.of_kind("recursive_subcall")
    assert sub.depth == 1 and sub.response == "7"
    assert [step.depth for step in trace.of_kind("sub_repl_exec")] == [1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rlm_query_past_the_depth_limit_raises_with_on_limit_raise(backend: str) -> None:
    adapter = FakeAdapter(script=[code("rlm_query('go deeper')"), "FINAL: never"])
    rlm = make(adapter, backend, policy=Policy(max_recursion_depth=0, on_limit="raise"))
    with pytest.raises(MaxRecursionExceeded, match="max_recursion_depth=0") as caught:
        rlm.run("q", "text")
    assert caught.value.trace is not None and caught.value.trace.of_kind("repl_exec")


def test_rlm_query_past_the_depth_limit_falls_back_to_a_plain_sub_call() -> None:
    adapter = FakeAdapter(script=[code("r = rlm_query('say hi')"), "FINAL_VAR: r"])
    adapter.add_rule("You are a sub-LLM", "hi")
    rlm = make(adapter, "python", policy=Policy(max_recursion_depth=0))
    answer, trace = rlm.run("q", "text")
    assert answer == "hi"
    assert len(trace.of_kind("subcall")) == 1 and not trace.of_kind("recursive_subcall")
