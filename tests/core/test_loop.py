"""The root loop: finalization, guards, budgets and graceful endings."""

from __future__ import annotations

import pytest

from rlm_core import (
    AdapterError,
    Context,
    MaxStepsExceeded,
    MaxSubcallsExceeded,
    MaxTokensExceeded,
    Policy,
)

from tests.core.helpers import SUB, code, make_rlm

CTX = Context.from_text("The secret code is 7141. Nothing else matters here.")


def test_spec_quickstart_with_unfenced_script() -> None:
    rlm, adapter = make_rlm(
        [
            "snippet = peek(80)\nsummary = llm_query(f'Summarize: {snippet}')\n"
            "answer = f'Summary -> {summary}'",
            "FINAL_VAR: answer",
        ]
    )
    adapter.add_rule(SUB, "[fake] short summary")
    answer, trace = rlm.run("Summarize this.", CTX)
    assert answer == "Summary -> [fake] short summary"
    assert [s.kind for s in trace.steps] == ["root_call", "repl_exec", "subcall", "root_call"]


def test_first_message_has_metadata_not_the_context() -> None:
    rlm, adapter = make_rlm(["FINAL: x"])
    rlm.run("What is the code?", CTX)
    first = adapter.calls[0]
    assert first[0]["role"] == "system"
    assert "What is the code?" in first[1]["content"]
    assert "total_chars" in first[1]["content"]
    assert "7141" not in first[0]["content"] + first[1]["content"]


def test_output_is_fed_back_and_final_text_ends() -> None:
    rlm, adapter = make_rlm([code("print(ctx.find('secret code')[0].snippet)"), "FINAL: 7141"])
    answer, trace = rlm.run("code?", CTX)
    assert answer == "7141"
    feedback = adapter.calls[1][-1]["content"]
    assert feedback.startswith("REPL output:")
    assert "7141" in feedback
    assert trace.steps[1].stdout is not None and "7141" in trace.steps[1].stdout


def test_last_expression_is_echoed() -> None:
    rlm, adapter = make_rlm([code("lenP()"), "FINAL: done"])
    rlm.run("q", CTX)
    assert str(CTX.len_chars()) in adapter.calls[1][-1]["content"]


def test_errors_reach_the_model_as_short_traceback_and_are_recorded() -> None:
    rlm, adapter = make_rlm([code("x = 1\ny = undefined_name + 1"), "FINAL: recovered"])
    answer, trace = rlm.run("q", CTX)
    assert answer == "recovered"
    feedback = adapter.calls[1][-1]["content"]
    assert "NameError" in feedback and "undefined_name" in feedback
    assert "python_repl.py" not in feedback  # only model-code frames
    exec_step = trace.of_kind("repl_exec")[0]
    assert exec_step.error is not None and "NameError" in exec_step.error


def test_syntax_error_is_reported_and_the_run_continues() -> None:
    rlm, adapter = make_rlm([code("def broken(:\n  pass"), "FINAL: ok"])
    answer, trace = rlm.run("q", CTX)
    assert answer == "ok"
    assert "SyntaxError" in adapter.calls[1][-1]["content"]
    assert trace.of_kind("repl_exec")[0].error.startswith("SyntaxError")  # type: ignore[union-attr]


def test_output_is_capped_with_visible_marker() -> None:
    rlm, adapter = make_rlm([code("print('z' * 10000)"), "FINAL: ok"], max_output_chars=500)
    rlm.run("q", CTX)
    feedback = adapter.calls[1][-1]["content"]
    assert "output truncated" in feedback
    assert feedback.count("z") == 500


def test_variables_persist_and_final_var_returns_them() -> None:
    rlm, _ = make_rlm([code("total = 20"), code("total += 22"), "FINAL_VAR: total"])
    answer, _ = rlm.run("q", CTX)
    assert answer == "42"


def test_final_var_missing_is_fed_back() -> None:
    rlm, adapter = make_rlm(["FINAL_VAR: nope", code("nope = 'here'"), "FINAL_VAR: nope"])
    answer, _ = rlm.run("q", CTX)
    assert answer == "here"
    assert "'nope' is not defined" in adapter.calls[1][-1]["content"]


def test_code_with_final_in_same_reply_finalizes_after_running() -> None:
    rlm, _ = make_rlm([code("answer = 'from code'") + "\nFINAL_VAR: answer"])
    assert rlm.run("q", CTX)[0] == "from code"


def test_final_ignored_when_the_code_failed() -> None:
    rlm, adapter = make_rlm([code("answer = 1/0") + "\nFINAL_VAR: answer", "FINAL: fixed"])
    assert rlm.run("q", CTX)[0] == "fixed"
    assert "FINAL line was ignored" in adapter.calls[1][-1]["content"]


def test_auto_finalize_var() -> None:
    rlm, adapter = make_rlm(
        [code("x = 1"), code("result = 'auto'"), "never used"], auto_finalize_var="result"
    )
    answer, _ = rlm.run("q", CTX)
    assert answer == "auto"
    assert adapter.remaining == 1


def test_require_repl_before_final() -> None:
    rlm, adapter = make_rlm(
        ["FINAL: guess", code("print(1)"), "FINAL: checked"], require_repl_before_final=True
    )
    assert rlm.run("q", CTX)[0] == "checked"
    assert "not run any code" in adapter.calls[1][-1]["content"]


def test_require_subcall_before_final() -> None:
    rlm, adapter = make_rlm(
        [code("x = 1"), "FINAL: early", code("y = llm_query('hi')"), "FINAL: late"],
        require_subcall_before_final=True,
    )
    adapter.add_rule(SUB, "sub says hi")
    assert rlm.run("q", CTX)[0] == "late"


def test_invalid_replies_then_fallback_code() -> None:
    rlm, adapter = make_rlm(
        ["I am not sure.", "Still thinking..."],
        invalid_response_limit=2,
        fallback_code="answer = pick_first_answer(ask_chunks('code?', ctx.chunk(30, overlap=10)))",
    )
    adapter.add_rule(r"Text:\n(?!.*7141)", "NOT FOUND", regex=True)
    adapter.add_rule("7141", "7141")
    answer, trace = rlm.run("q", CTX)
    assert answer == "7141"
    fallback = [s for s in trace.of_kind("repl_exec") if s.metadata["purpose"] == "fallback"]
    assert len(fallback) == 1
    assert len(trace.of_kind("subcall")) >= 2


def test_invalid_replies_without_fallback_finalize_gracefully() -> None:
    rlm, adapter = make_rlm(["hmm", "hmm again", "FINAL: best effort"], invalid_response_limit=2)
    answer, trace = rlm.run("q", CTX)
    assert answer == "best effort"
    assert trace.steps[-1].metadata["purpose"] == "finalize"
    assert "neither a ```python code block" in adapter.calls[1][-1]["content"]


def test_empty_reply_gets_specific_feedback() -> None:
    rlm, adapter = make_rlm(["", "FINAL: ok"])
    assert rlm.run("q", CTX)[0] == "ok"
    assert "reply was empty" in adapter.calls[1][-1]["content"]


def test_max_steps_finalizes_gracefully_by_default() -> None:
    rlm, adapter = make_rlm(
        [code(f"x = {i}") for i in range(3)] + ["FINAL: gathered so far"],
        policy=Policy(max_steps=3),
    )
    answer, trace = rlm.run("q", CTX)
    assert answer == "gathered so far"
    assert "used all 3 steps" in adapter.calls[-1][-1]["content"]
    assert len(trace.of_kind("root_call")) == 4


def test_max_steps_raises_when_asked_and_keeps_the_trace() -> None:
    rlm, _ = make_rlm(
        [code(f"x = {i}") for i in range(5)], policy=Policy(max_steps=2, on_limit="raise")
    )
    with pytest.raises(MaxStepsExceeded) as info:
        rlm.run("q", CTX)
    assert info.value.trace is not None
    assert len(info.value.trace.of_kind("repl_exec")) == 2


def test_max_subcalls_finalizes_and_keeps_answers_already_paid_for() -> None:
    rlm, adapter = make_rlm(
        [code("r = llm_batch(['a', 'b', 'c'])\nprint(r)"), "FINAL: partial"],
        policy=Policy(max_subcalls=2),
    )
    adapter.add_rule(SUB, "sub")
    answer, trace = rlm.run("q", CTX)
    assert answer == "partial"
    assert len(trace.of_kind("subcall")) == 2
    assert "MaxSubcallsExceeded" in trace.of_kind("repl_exec")[0].stdout  # type: ignore[operator]


def test_max_subcalls_raise_mode() -> None:
    rlm, adapter = make_rlm(
        [code("llm_query('a')\nllm_query('b')")], policy=Policy(max_subcalls=1, on_limit="raise")
    )
    adapter.add_rule(SUB, "sub")
    with pytest.raises(MaxSubcallsExceeded) as info:
        rlm.run("q", CTX)
    assert info.value.trace is not None


def test_token_budget_finalizes_or_raises() -> None:
    rlm, _ = make_rlm([code("x = 1"), "FINAL: tight"], policy=Policy(max_total_tokens=1))
    answer, trace = rlm.run("q", CTX)
    assert answer == "tight"
    assert [s.metadata["purpose"] for s in trace.of_kind("root_call")] == ["step", "finalize"]
    # The code of the reply that used up the budget still ran before the finalize call.
    assert [s.metadata["purpose"] for s in trace.of_kind("repl_exec")] == ["over_budget"]
    strict, _ = make_rlm([code("x = 1")] * 10, policy=Policy(max_total_tokens=1, on_limit="raise"))
    with pytest.raises(MaxTokensExceeded):
        strict.run("q", CTX)


def test_model_that_never_finalizes_ends_with_its_last_reply() -> None:
    rlm, adapter = make_rlm([], policy=Policy(max_steps=3))
    adapter.default = code("print('still looking')")
    answer, trace = rlm.run("q", CTX)
    assert "still looking" in answer or answer.startswith("```")
    assert trace.steps[-1].metadata["purpose"] == "finalize"


def test_adapter_failure_keeps_the_partial_trace() -> None:
    rlm, _ = make_rlm([code("x = 1")])  # script runs out on step 2
    with pytest.raises(AdapterError, match="script is used up") as info:
        rlm.run("q", CTX)
    trace = info.value.trace
    assert trace is not None and trace.error is not None
    assert [s.kind for s in trace.steps] == ["root_call", "repl_exec", "root_call"]
    assert trace.steps[-1].error is not None


def test_custom_adapter_exception_is_wrapped_with_its_name() -> None:
    class Broken:
        model = "broken"

        def complete(self, messages: object, **_: object) -> object:
            raise RuntimeError("socket on fire")

    import warnings

    from rlm_core import RLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rlm = RLM(adapter=Broken(), repl_backend="python")  # type: ignore[arg-type]
    with pytest.raises(AdapterError, match="Broken failed: RuntimeError: socket on fire"):
        rlm.run("q", CTX)


def test_adapter_returning_wrong_type_is_explained() -> None:
    class Wrong:
        def complete(self, messages: object, **_: object) -> str:
            return "plain string"

    import warnings

    from rlm_core import RLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rlm = RLM(adapter=Wrong(), repl_backend="python")  # type: ignore[arg-type]
    with pytest.raises(AdapterError, match=r"must return rlm_core\.adapters\.ModelResponse"):
        rlm.run("q", CTX)


def test_identical_code_is_not_run_twice() -> None:
    rlm, adapter = make_rlm([code("print(grep('secret'))")] * 2 + ["FINAL: 7141"])
    answer, trace = rlm.run("q", CTX)
    assert answer == "7141"
    assert len(trace.of_kind("repl_exec")) == 1
    assert "already ran" in adapter.calls[2][-1]["content"]


def test_not_found_does_not_auto_finalize() -> None:
    rlm, _ = make_rlm(
        [code("answer = 'NOT FOUND'"), code("answer = 'the code is 7141'"), "unused"],
        auto_finalize_var="answer",
    )
    assert rlm.run("q", CTX)[0] == "the code is 7141"


def test_code_given_as_the_final_answer_is_run_for_its_result() -> None:
    rlm, _ = make_rlm(
        [code("a = 1"), code("answer = 'computed at the end'")], policy=Policy(max_steps=1)
    )
    answer, trace = rlm.run("q", CTX)
    assert answer == "computed at the end"
    assert trace.of_kind("repl_exec")[-1].metadata["purpose"] == "finalize"


def test_the_question_is_available_to_fallback_code() -> None:
    rlm, adapter = make_rlm(
        ["no idea"],
        invalid_response_limit=1,
        fallback_code="answer = ask(QUERY, peek(200))",
    )
    adapter.add_rule("Question: What is the secret code?", "7141")
    assert rlm.run("What is the secret code?", CTX)[0] == "7141"
    sub_prompt = adapter.calls[-1][-1]["content"]
    assert sub_prompt.index("Text:") < sub_prompt.index("Question:")
