"""Guards, budgets and helpers behave as pyrlm-runtime documents them (scripted models)."""

from __future__ import annotations

import pytest

from rlm_core import AdapterError, Context, MaxTokensExceeded, Policy
from rlm_core.engine.loop import NO_ANSWER

from tests.core.helpers import code, make_rlm

CTX = Context.from_text("Order ID: A-123, shipped. The secret code is 7141.")


# --------------------------------------------------------------------------- invalid replies


def test_invalid_response_limit_counts_consecutive_replies_only() -> None:
    script = ["hmm", code("x = 1"), "hmm", code("y = 2"), "hmm", "FINAL: done"]
    rlm, _ = make_rlm(script, invalid_response_limit=2)
    answer, trace = rlm.run("q", CTX)
    assert answer == "done"
    assert [s.metadata["purpose"] for s in trace.of_kind("root_call")] == ["step"] * 6


def test_consecutive_invalid_replies_still_reach_the_limit() -> None:
    rlm, _ = make_rlm([code("x = 1"), "hmm", "hmm", "FINAL: forced"], invalid_response_limit=2)
    answer, trace = rlm.run("q", CTX)
    assert answer == "forced"
    assert trace.of_kind("root_call")[-1].metadata["purpose"] == "finalize"


# --------------------------------------------------------------------------- token budget


def test_code_in_the_reply_that_used_up_the_budget_runs_and_gives_the_answer() -> None:
    rlm, adapter = make_rlm(
        [code("answer = extract_after('secret code is')"), "never asked"],
        policy=Policy(max_total_tokens=1),
    )
    answer, trace = rlm.run("q", CTX)
    assert answer == "7141"
    assert [s.metadata["purpose"] for s in trace.of_kind("repl_exec")] == ["over_budget"]
    assert len(adapter.calls) == 1  # no finalize call was needed


def test_output_of_that_code_reaches_the_finalize_call() -> None:
    rlm, adapter = make_rlm(
        [code("print('clue: ' + extract_after('Order ID:'))"), "FINAL: A-123"],
        policy=Policy(max_total_tokens=1),
    )
    answer, trace = rlm.run("q", CTX)
    assert answer == "A-123"
    assert "clue: A-123" in adapter.calls[1][-1]["content"] + adapter.calls[1][-2]["content"]
    assert [s.metadata["purpose"] for s in trace.of_kind("root_call")] == ["step", "finalize"]
    assert trace.metadata["finalize"]["outcome"] == "answer"


def test_that_code_makes_no_sub_calls_once_the_budget_is_spent() -> None:
    rlm, adapter = make_rlm(
        [code("r = llm_batch(['a', 'b', 'c'])"), "FINAL: stopped"],
        policy=Policy(max_total_tokens=1),
    )
    answer, trace = rlm.run("q", CTX)
    assert answer == "stopped"
    assert not trace.of_kind("subcall")
    assert len(adapter.calls) == 2  # the step and the finalize call, no sub-model call


def test_final_called_by_that_code_is_accepted() -> None:
    rlm, adapter = make_rlm(
        [code("FINAL(extract_after('Order ID:'))"), "never asked"],
        policy=Policy(max_total_tokens=1),
    )
    assert rlm.run("q", CTX)[0] == "A-123"
    assert len(adapter.calls) == 1


def test_final_in_the_reply_that_used_up_the_budget_is_accepted() -> None:
    rlm, adapter = make_rlm(["FINAL: direct"], policy=Policy(max_total_tokens=1))
    assert rlm.run("q", CTX)[0] == "direct"
    assert len(adapter.calls) == 1


def test_raise_mode_does_not_run_the_code() -> None:
    rlm, _ = make_rlm([code("answer = 'x'")], policy=Policy(max_total_tokens=1, on_limit="raise"))
    with pytest.raises(MaxTokensExceeded) as info:
        rlm.run("q", CTX)
    assert info.value.trace is not None
    assert not info.value.trace.of_kind("repl_exec")


# --------------------------------------------------------------------------- finalize failures


def test_failed_finalize_call_raises_instead_of_returning_empty() -> None:
    rlm, _ = make_rlm([code("x = 1")], policy=Policy(max_steps=1))  # script ends: call fails
    with pytest.raises(AdapterError, match="final answer failed") as info:
        rlm.run("q", CTX)
    trace = info.value.trace
    assert trace is not None
    assert trace.metadata["finalize"]["outcome"] == "model_failed"
    assert "script is used up" in trace.metadata["finalize"]["error"]


def test_failed_finalize_call_keeps_an_answer_already_in_the_repl() -> None:
    rlm, _ = make_rlm([code("answer = 'kept'")], policy=Policy(max_steps=1))
    answer, trace = rlm.run("q", CTX)
    assert answer == "kept"
    assert trace.metadata["finalize"]["outcome"] == "model_failed"


def test_empty_finalize_answer_is_flagged_in_the_trace() -> None:
    rlm, _ = make_rlm([code("x = 1"), "   "], policy=Policy(max_steps=1))
    answer, trace = rlm.run("q", CTX)
    assert answer == NO_ANSWER  # never a silent empty string
    assert trace.answer == NO_ANSWER and trace.metadata["no_answer"] is True
    assert trace.metadata["finalize"] == {
        "reason": trace.metadata["finalize"]["reason"],
        "outcome": "empty_answer",
    }
    assert "1 steps" in trace.metadata["finalize"]["reason"]


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("code_line", "printed"),
    [
        ("extract_after('Order ID:')", "A-123"),
        ("extract_after('secret code is', max_len=4)", "714"),
        ("extract_after('no such marker')", "None"),
        ("extract_after('7141.')", "None"),
    ],
)
def test_extract_after_returns_the_first_word(code_line: str, printed: str) -> None:
    rlm, adapter = make_rlm([code(f"print({code_line})"), "FINAL: ok"])
    rlm.run("q", CTX)
    assert f"\n{printed}" in adapter.calls[1][-1]["content"]


def test_pick_first_answer_skips_no_answer_values() -> None:
    values = "['NO_ANSWER', 'Answer: not found', '', None, 'no-answer', '  42 ', 'later']"
    rlm, _ = make_rlm([code(f"answer = pick_first_answer({values})"), "FINAL_VAR: answer"])
    assert rlm.run("q", CTX)[0] == "42"


# --------------------------------------------------------------------------- history


def test_without_conversation_history_only_system_and_current_user_are_sent() -> None:
    rlm, adapter = make_rlm(
        [code("print('first-output')"), code("print('second-output')"), "FINAL: x"],
        conversation_history=False,
    )
    assert rlm.run("Which code?", CTX)[0] == "x"
    last = adapter.calls[2]
    assert [message["role"] for message in last] == ["system", "user"]
    assert "Which code?" in last[1]["content"]
    assert "second-output" in last[1]["content"]
    assert "first-output" not in last[1]["content"]
    assert [message["role"] for message in adapter.calls[1]] == ["system", "user"]
