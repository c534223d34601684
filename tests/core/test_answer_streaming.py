"""A run streams its answer (``answer_delta`` events) from the root call that writes it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from rlm_core import RLM, AnswerText, Event, ModelResponse, Policy, report_piece
from rlm_core.adapters import FakeAdapter

from .helpers import code


class PieceByPiece:
    """A scripted adapter whose replies are reported in 3-character pieces, as a streaming
    model's would be."""

    def __init__(self, *script: str) -> None:
        self.inner = FakeAdapter(script=script)
        self.model = "pieces"

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> ModelResponse:
        response = self.inner.complete(messages, **kwargs)
        for start in range(0, len(response.text), 3):
            report_piece(response.text[start : start + 3])
        return response


def _deltas(events: list[Event]) -> list[str]:
    return [str(e.data["text"]) for e in events if e.type == "answer_delta" and e.depth == 0]


def _run(*script: str, **options: Any) -> tuple[str, list[Event]]:
    events: list[Event] = []
    rlm = RLM(PieceByPiece(*script), repl_backend="python", event_listener=events.append, **options)
    answer, _ = rlm.run("question?", "some context")
    return answer, events


def test_a_final_reply_is_streamed_in_pieces_before_its_call_ends() -> None:
    answer, events = _run(code("x = 1"), "FINAL: The vault code is 4711, in the north wing.")
    assert answer == "The vault code is 4711, in the north wing."
    deltas = _deltas(events)
    assert len(deltas) > 3 and "".join(deltas) == answer
    types = [e.type for e in events]
    last_root_end = max(i for i, e in enumerate(events) if e.type == "step_end")
    assert types.index("answer_delta") < last_root_end  # pieces left while the call ran


def test_code_and_final_var_replies_are_not_streamed() -> None:
    answer, events = _run(code("x = 'the plan'"), "FINAL_VAR: x")
    assert answer == "the plan"
    assert _deltas(events) == []
    answer, events = _run(code("y = 2\nFINAL('two')"))
    assert answer == "two" and _deltas(events) == []


def test_a_reply_turning_to_code_stops_streaming_before_the_code_leaves() -> None:
    reply = "FINAL: maybe\n```python\nprint(secret)\n```"
    _, events = _run(reply, "FINAL: done")
    assert "secret" not in "".join(_deltas(events))


def test_guards_hold_streaming_back_until_they_are_met() -> None:
    # The first FINAL is rejected (no REPL run yet), so it must not be streamed.
    answer, events = _run(
        "FINAL: too early", code("x = 1"), "FINAL: right", require_repl_before_final=True
    )
    assert answer == "right"
    assert "".join(_deltas(events)) == "right"


def test_a_sub_call_guard_holds_streaming_back_until_a_sub_call_started() -> None:
    # The first FINAL is rejected (no sub-call yet); the sub-call answers "looked"; then the
    # second FINAL is the answer and the only streamed text.
    answer, events = _run(
        "FINAL: too early",
        code("print(llm_query('look'))"),
        "looked",
        "FINAL: right",
        require_subcall_before_final=True,
    )
    assert answer == "right"
    assert "".join(_deltas(events)) == "right"


def test_a_token_budget_turns_live_streaming_off() -> None:
    answer, events = _run("FINAL: fine", policy=Policy(max_total_tokens=100_000))
    assert answer == "fine" and _deltas(events) == []


def test_typed_answers_are_not_streamed() -> None:
    class Year(BaseModel):
        year: int

    events: list[Event] = []
    rlm = RLM(
        PieceByPiece('FINAL: {"year": 1969}'), repl_backend="python", event_listener=events.append
    )
    answer, _ = rlm.run("When?", "text", output_type=Year)
    assert answer == Year(year=1969) and _deltas(events) == []


def test_sub_call_text_is_never_streamed() -> None:
    # The sub-call's reply (the script's second entry) looks like an answer; it is not one.
    answer, events = _run(code("print(llm_query('repeat'))"), "FINAL: leaked", "FINAL: ok")
    assert answer == "ok"
    assert "".join(_deltas(events)) == "ok"


def test_async_runs_stream_too() -> None:
    events: list[Event] = []
    rlm = RLM(
        PieceByPiece("FINAL: async answer here"),
        repl_backend="python",
        event_listener=events.append,
    )
    answer, _ = asyncio.run(rlm.arun("q", "ctx"))
    assert "".join(_deltas(events)) == answer == "async answer here"


def test_answer_text_gives_what_was_not_streamed() -> None:
    text = AnswerText()
    delta = Event(type="answer_delta", run_id="r", data={"text": "The vault"})
    assert text.feed(delta) == "The vault"
    end = Event(type="run_end", run_id="r", data={"answer": "The vault code is 4711."})
    assert text.feed(end) == " code is 4711."
    assert not text.diverged


def test_answer_text_sends_a_changed_answer_whole() -> None:
    text = AnswerText()
    text.feed(Event(type="answer_delta", run_id="r", data={"text": "draft"}))
    assert text.rest("final") == "\nfinal" and text.diverged


def test_report_piece_outside_a_run_does_nothing() -> None:
    report_piece("nobody listens")  # no run in progress: no error


@pytest.mark.parametrize("backend", ["python", "isolated"])
def test_stream_yields_answer_deltas(backend: str) -> None:
    rlm = RLM(PieceByPiece(code("x = 1"), "FINAL: streamed answer"), repl_backend=backend)
    events = list(rlm.stream("q", "ctx"))
    assert "".join(_deltas(events)) == "streamed answer"
    assert events[-1].type == "run_end"


def test_a_session_turn_streams_its_events_and_keeps_variables() -> None:
    rlm = RLM(
        PieceByPiece(code("secret = 41"), "FINAL: stored it", code("FINAL(secret + 1)")),
        repl_backend="python",
    )
    with rlm.session() as session:
        first = list(session.stream("Store it.", "ctx"))
        assert "".join(_deltas(first)) == "stored it"
        second = list(session.stream("One more?"))
        assert second[-1].type == "run_end" and second[-1].data["answer"] == "42"
        assert len(session.turns) == 2


def test_a_session_turn_streams_on_the_event_loop() -> None:
    rlm = RLM(PieceByPiece("FINAL: async session answer"), repl_backend="python")

    async def main() -> list[Event]:
        with rlm.session() as session:
            return [event async for event in session.astream("q", "ctx")]

    events = asyncio.run(main())
    assert "".join(_deltas(events)) == "async session answer"


def test_a_refused_nothing_found_reply_is_never_streamed() -> None:
    # The small profile refuses "FINAL: NOT FOUND" once code ran and keeps working.
    answer, events = _run(
        code("x = 1"),
        "FINAL: NOT FOUND",
        code("answer = 'the vault code is 4711'"),
        profile="small",
    )
    assert answer == "the vault code is 4711"
    assert _deltas(events) == []


def test_a_lower_case_final_var_stops_streaming_before_the_marker_leaves() -> None:
    _, events = _run(code("ans = 'kept'"), "FINAL: the value of the variable below\nfinal_var: ans")
    assert "final_var" not in "".join(_deltas(events)).lower()


def test_with_an_answer_variable_a_real_answer_still_streams() -> None:
    answer, events = _run(
        code("x = 1"),
        "FINAL: The vault code is 4711 and it is kept in the north wing.",
        profile="small",
    )
    assert answer == "The vault code is 4711 and it is kept in the north wing."
    assert len(_deltas(events)) > 1 and "".join(_deltas(events)) == answer
