"""A run never ends in a silent empty answer: FINAL markers inside code fences are read,
repeated failing code counts as invalid so the fallback fires, the small profile's rescue
greps the rarest term, and a run with nothing to say says so (scripted models)."""

from __future__ import annotations

import asyncio

from rlm_core import RLM, Context, Event, Policy
from rlm_core.adapters import FakeAdapter
from rlm_core.engine.loop import NO_ANSWER
from rlm_core.engine.parsing import parse_reply
from rlm_core.profiles import keywords

from tests.core.helpers import SUB, code, make_rlm

CTX = Context.from_text("Order ID: A-123, shipped. The secret code is 7141.")


def test_a_final_line_inside_a_fence_is_the_answer_not_python() -> None:
    parsed = parse_reply('```python\nFINAL: "1985"```')
    assert (parsed.code, parsed.final_text, parsed.final_var) == (None, "1985", None)
    rlm, _ = make_rlm([code("x = 1"), '```python\nFINAL: "1985"```'])
    answer, trace = rlm.run("q", CTX)
    assert answer == "1985"
    assert [s.code for s in trace.of_kind("repl_exec")] == ["x = 1"]  # the marker never ran


def test_the_finalize_reply_with_a_fenced_final_is_the_answer() -> None:
    rlm, _ = make_rlm([code("x = 1"), '```python\nFINAL: "1985"\n```'], policy=Policy(max_steps=1))
    answer, trace = rlm.run("q", CTX)
    assert answer == "1985"
    assert trace.metadata["finalize"]["outcome"] == "answer"
    assert "no_answer" not in trace.metadata


def test_code_then_a_fenced_final_var_runs_the_code_and_returns_the_variable() -> None:
    rlm, _ = make_rlm(["```python\nyear = 1984 + 1\nFINAL_VAR: year\n```"])
    answer, trace = rlm.run("q", CTX)
    assert answer == "1985"
    assert [s.code for s in trace.of_kind("repl_exec")] == ["year = 1984 + 1"]


def test_repeated_failing_code_with_a_final_counts_as_invalid_and_the_fallback_fires() -> None:
    failing = code("print(missing_name.peek(2000))") + "\nFINAL: a guess"
    rlm, adapter = make_rlm(
        [failing] * 6, invalid_response_limit=2, fallback_code="answer = 'rescued'"
    )
    answer, trace = rlm.run("q", CTX)
    assert answer == "rescued"
    purposes = [s.metadata["purpose"] for s in trace.of_kind("repl_exec")]
    assert purposes == ["step", "fallback"]  # the failing code ran once, not six times
    assert "raised the error shown above" in adapter.calls[2][-1]["content"]


def test_repeated_working_code_with_a_final_still_finishes() -> None:
    rlm, _ = make_rlm([code("x = 1"), code("x = 1") + "\nFINAL: done"])
    assert rlm.run("q", CTX)[0] == "done"


def test_keywords_put_a_quoted_phrase_and_distinctive_words_first() -> None:
    assert keywords('What does "blue harbour" mean for shipping?')[0] == "blue harbour"
    assert keywords("Who leads the team that owns Orion-7?")[0] == "orion-7"


def test_the_small_rescue_greps_the_rarest_term_not_the_longest() -> None:
    text = (
        "Staff may access the canteen. " * 30
        + "Only Mira Holt holds the vault key. "
        + "Guests may access the lobby. " * 30
    )
    adapter = FakeAdapter(default="I am not sure.")  # never code, never FINAL
    adapter.add_rule(SUB, "Mira Holt")
    rlm = RLM(adapter, profile="small", repl_backend="python")
    answer, trace = rlm.run("who can access the vault", text)
    assert keywords("who can access the vault") == ["access", "vault", "can"]
    assert answer == "Mira Holt"
    fallback = next(s for s in trace.steps if s.metadata.get("purpose") == "fallback")
    assert fallback.stdout == "['Only Mira Holt holds the vault key.']\n"  # not 'access' hits


def test_the_small_rescue_counts_a_short_rare_word_among_many_longer_ones() -> None:
    question = "How many units of rope were shipped in total, over all shipments?"
    assert "rope" in keywords(question)  # the fifth content word by length
    text = (  # rope: too common for find_facts (over 8 sentences), yet the rarest term
        "A coil of rope lay on the quay. " * 10
        + "Shipment log: the depot shipped units of valves in total. " * 30
        + "Shipments of units shipped in total: many. " * 30
    )
    adapter = FakeAdapter(default="I am not sure.")  # never code, never FINAL
    adapter.add_rule(SUB, "rope")
    rlm = RLM(adapter, profile="small", repl_backend="python")
    _, trace = rlm.run(question, text)
    fallback = next(s for s in trace.steps if s.metadata.get("purpose") == "fallback")
    assert fallback.stdout is not None and fallback.stdout.startswith("['[@10] A coil of rope")


def test_a_run_without_an_answer_says_so_in_the_answer_and_the_trace() -> None:
    events: list[Event] = []
    rlm, _ = make_rlm([code("x = 1"), "FINAL:"], event_listener=events.append)
    answer, trace = rlm.run("q", CTX)
    assert answer == NO_ANSWER
    assert trace.answer == NO_ANSWER and trace.metadata["no_answer"] is True
    reasons = [e.data.get("reason") for e in events if e.type == "guard"]
    assert "the run ended without an answer" in reasons

    async def async_run() -> tuple[str, object]:
        rlm, _ = make_rlm([code("x = 1"), "FINAL:"])
        return await rlm.arun("q", CTX)

    async_answer, async_trace = asyncio.run(async_run())
    assert async_answer == NO_ANSWER
    assert async_trace.metadata["no_answer"] is True  # type: ignore[attr-defined]


def test_a_finalize_reply_naming_a_missing_variable_is_no_answer_not_the_line() -> None:
    rlm, _ = make_rlm(["FINAL_VAR: nope"] * 4, policy=Policy(max_steps=3))
    answer, trace = rlm.run("q", CTX)  # three refused replies, then the finalize call
    assert answer == NO_ANSWER and trace.metadata["no_answer"] is True
    assert trace.metadata["finalize"]["outcome"] == "empty_answer"
    rlm, _ = make_rlm([code("answer = 'kept'"), "FINAL_VAR: nope"], policy=Policy(max_steps=1))
    assert rlm.run("q", CTX)[0] == "kept"  # an answer variable still counts


def test_a_real_answer_is_not_flagged() -> None:
    rlm, _ = make_rlm([code("x = 1"), "FINAL: 7141"])
    answer, trace = rlm.run("q", CTX)
    assert answer == "7141" and "no_answer" not in trace.metadata


def test_a_mixed_case_final_line_ends_the_run_instead_of_running_as_python() -> None:
    rlm, _ = make_rlm([code("year = 1985\nprint(year)"), "Final: 1985"])
    answer, trace = rlm.run("q", CTX)
    assert answer == "1985"
    assert [s.code for s in trace.of_kind("repl_exec")] == ["year = 1985\nprint(year)"]


def test_final_none_with_an_answer_variable_is_refused_until_the_fallback_fires() -> None:
    replies = [code("hits = []"), "Final: None", "FINAL([])"]
    rlm, adapter = make_rlm(
        replies, auto_finalize_var="answer", invalid_response_limit=2,
        fallback_code="answer = 'rescued'",
    )  # fmt: skip
    answer, trace = rlm.run("q", CTX)
    assert answer == "rescued"
    assert [s.metadata["purpose"] for s in trace.of_kind("repl_exec")] == ["step", "fallback"]
    assert "That is not an answer" in adapter.calls[2][-1]["content"]
    # Without an answer variable, a FINAL is taken as the model wrote it.
    plain, _ = make_rlm([code("hits = []"), "Final: None"])
    assert plain.run("q", CTX)[0] == "None"
