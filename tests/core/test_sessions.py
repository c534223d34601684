"""Sessions: variables, contexts and history carry across turns; the REPL lives as long as
the session; turns can be saved and restored."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
import warnings
from pathlib import Path

import pytest

from rlm_core import RLM, Context, ContextError, MaxTokensExceeded, SessionError
from rlm_core.adapters import FakeAdapter

from .helpers import code

BACKENDS = ["isolated", "python", "monty"]


def make(script: list[str], backend: str, **options: object) -> tuple[RLM, FakeAdapter]:
    adapter = FakeAdapter(script=script)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter, repl_backend=backend, **options), adapter  # type: ignore[arg-type]


def process_gone(pid: int, within: float = 5.0) -> bool:
    """True when ``pid`` stops running within ``within`` seconds (gone, or a zombie waiting
    to be reaped): a closed REPL's worker is killed at once and reaped in the background."""
    deadline = time.monotonic() + within
    while True:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


THREE_TURNS = [
    code("secret = 41\nprint(len(P))"),
    "FINAL: stored",
    code("print(contexts[1][:5], len(history))"),
    "FINAL: second",
    code("answer = secret + 1\nprint(answer)"),
    "FINAL_VAR: answer",
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_variable_from_turn_one_is_read_in_turn_three(backend: str) -> None:
    rlm, adapter = make(THREE_TURNS, backend)
    with rlm.session() as session:
        assert session.run("remember a number", "first context")[0] == "stored"
        assert session.run("look at the new text", "second context")[0] == "second"
        answer, trace = session.run("what is the number plus one?")
        pid = getattr(session.repl, "worker_pid", None)
    assert answer == "42"
    assert trace.metadata["turn"] == 3
    outputs = [step.stdout for step in trace.of_kind("repl_exec")]
    assert outputs == ["42\n"]
    assert session.closed and session.repl is None
    if backend == "isolated":
        assert pid is not None and process_gone(pid)
    # Turn 2 saw the second context and one earlier turn.
    turn_two_output = adapter.calls[3][-1]["content"]
    assert "secon 1" in turn_two_output
    # Turn 3's first message lists the earlier turns in one line each.
    first_message = adapter.calls[4][1]["content"]
    assert "turn 3" in first_message
    assert "1. Q: remember a number -> A: stored" in first_message
    assert "2. Q: look at the new text -> A: second" in first_message


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_session_keeps_variables(backend: str) -> None:
    rlm, _ = make(THREE_TURNS, backend)

    async def main() -> tuple[str, int | None]:
        async with rlm.session() as session:
            await session.arun("remember a number", "first context")
            await session.arun("look at the new text", "second context")
            answer, _ = await session.arun("what is the number plus one?")
            return answer, getattr(session.repl, "worker_pid", None)

    answer, pid = asyncio.run(main())
    assert answer == "42"
    if backend == "isolated":
        assert pid is not None and process_gone(pid)


def test_the_worker_is_closed_when_the_with_block_raises() -> None:
    rlm, _ = make([code("x = 1"), "FINAL: ok"], "isolated")
    with pytest.raises(RuntimeError, match="boom"), rlm.session() as session:
        session.run("q", "text")
        pid = session.repl.worker_pid  # type: ignore[union-attr]
        raise RuntimeError("boom")
    assert process_gone(pid)


def test_the_worker_is_closed_when_the_session_is_garbage_collected() -> None:
    rlm, _ = make([code("x = 1"), "FINAL: ok"], "isolated")
    session = rlm.session()
    session.run("q", "text")
    pid = session.repl.worker_pid  # type: ignore[union-attr]
    del session
    gc.collect()
    assert process_gone(pid)


def test_a_closed_session_refuses_new_turns() -> None:
    rlm, _ = make(["FINAL: a"], "python")
    session = rlm.session()
    session.close()
    with pytest.raises(SessionError, match="closed"):
        session.run("q", "text")


def test_limits_apply_per_turn_and_the_session_total_caps_the_turns() -> None:
    rlm, _ = make([code("x = 1"), "FINAL: one", "FINAL: two"], "python")
    with rlm.session(max_total_tokens=1) as session:
        session.run("q1", "text")
        with pytest.raises(MaxTokensExceeded, match="session used its token budget") as caught:
            session.run("q2")
    refused = caught.value.trace  # the refused turn has a trace too, like any failed run
    assert refused is not None and refused.query == "q2" and refused.steps == []
    assert refused.metadata["turn"] == 2
    assert refused.error is not None and refused.error.startswith("MaxTokensExceeded: ")
    with pytest.raises(SessionError, match="max_total_tokens"):
        rlm.session(max_total_tokens=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_and_restore_plain_variables(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    rlm, _ = make(
        [code("notes = {'count': 3, 'names': ['a', 'b']}\nlimit = 2.5"), "FINAL: saved"], backend
    )
    with rlm.session() as session:
        session.run("take notes", ["doc one", "doc two"])
        session.save(path)
    saved = json.loads(path.read_text())
    assert saved["variables"] == {"notes": {"count": 3, "names": ["a", "b"]}, "limit": 2.5}

    again, adapter = make(
        [code("print(notes['count'] * limit, ctx.num_documents())"), "FINAL: 7.5"], backend
    )
    with again.session(restore=path) as restored:
        answer, trace = restored.run("use the notes")
    assert answer == "7.5"
    assert trace.of_kind("repl_exec")[0].stdout == "7.5 2\n"
    assert "1. Q: take notes -> A: saved" in adapter.calls[0][1]["content"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_saving_a_function_is_a_clear_error(backend: str, tmp_path: Path) -> None:
    rlm, _ = make([code("def helper(x):\n    return x\nkept = [1, 2]"), "FINAL: ok"], backend)
    with rlm.session() as session:
        session.run("q", "text")
        with pytest.raises(SessionError, match=r"not plain data.*helper"):
            session.save(tmp_path / "s.json")
        session.save(tmp_path / "s.json", skip_unsaveable=True)
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["variables"] == {"kept": [1, 2]}
    assert saved["skipped"] == ["helper"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_int_too_long_for_json_is_unsaveable_and_an_earlier_save_stays_whole(
    backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.json"
    rlm, _ = make([code("kept = 1"), "FINAL: a", code("big = [10**5000]"), "FINAL: b"], backend)
    with rlm.session() as session:
        session.run("q1", "text")
        session.save(path)
        first = path.read_text()
        session.run("q2")
        with pytest.raises(SessionError, match=r"not plain data.*4300 digits.*: big;"):
            session.save(path)
        assert path.read_text() == first  # the refused save did not touch the file
        session.save(path, skip_unsaveable=True)
        with pytest.raises(SessionError, match="cannot save the session to"):
            session.save(tmp_path / "no such folder" / "s.json", skip_unsaveable=True)
    saved = json.loads(path.read_text())
    assert saved["variables"] == {"kept": 1} and saved["skipped"] == ["big"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]  # no temporary files left


def test_restoring_reserved_helper_or_odd_names_is_a_damaged_file(tmp_path: Path) -> None:
    def lookup(key: str) -> str:
        """A tool."""
        return key

    rlm, _ = make([code("print(fine)"), "FINAL: ok"], "python", tools=[lookup])
    good = {"format": "rlm-session", "version": 1, "turns": [], "skipped": []}
    good["contexts"] = [{"text": "ctx", "starts": [0], "lengths": [3], "separator": "\n"}]
    path = tmp_path / "s.json"
    for name in ("P", "llm_query", "history", "FINAL", "lookup", "1bad name", "class", "_x"):
        path.write_text(json.dumps({**good, "variables": {"fine": 1, name: "x"}}))
        with pytest.raises(SessionError, match=rf"is damaged: .*cannot restore.*{name!r}"):
            rlm.session(restore=path)
    path.write_text(json.dumps({**good, "variables": ["fine"]}))
    with pytest.raises(SessionError, match="is damaged: its variables are not a dict"):
        rlm.session(restore=path)
    path.write_text(json.dumps({**good, "variables": {"fine": 1}}))
    with rlm.session(restore=path) as session:
        session.run("q")
        assert session.repl is not None and session.repl.get("fine") == 1


def test_restoring_something_else_is_a_clear_error(tmp_path: Path) -> None:
    rlm, _ = make([], "python")
    path = tmp_path / "other.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(SessionError, match="not a saved rlm session"):
        rlm.session(restore=path)
    with pytest.raises(SessionError, match="cannot restore"):
        rlm.session(restore=tmp_path / "missing.json")
    assert not os.path.exists(tmp_path / "missing.json")


def test_compaction_in_a_session_keeps_history_for_the_turns() -> None:
    rlm, adapter = make(
        [code("a = 1"), code("b = 2"), code("c = 3"), "FINAL: done"],
        "python",
        compaction=True,
        compaction_threshold_tokens=60,
    )
    adapter.add_rule("You summarise the work log", "- summary")
    with rlm.session() as session:
        _, first = session.run("first", "text")
        adapter.extend([code("print(history[0]['query'], type(transcript).__name__)"), "FINAL: ok"])
        _, second = session.run("second")
    assert first.of_kind("root_call")[0].metadata["purpose"] == "step"
    assert any(s.metadata.get("purpose") == "compaction" for s in first.of_kind("root_call"))
    assert second.of_kind("repl_exec")[0].stdout == "first list\n"


def test_a_file_backed_first_context_is_p_and_is_saved_by_path(tmp_path: Path) -> None:
    book = tmp_path / "book.txt"
    book.write_text("call me Ishmael. " * 100)
    rlm, _ = make([code("n = P.count('Ishmael')"), "FINAL_VAR: n"], "python")
    with rlm.session() as session:
        assert session.run("how often?", Context.from_file(book))[0] == "100"
        session.save(tmp_path / "s.json")
        with pytest.raises(ContextError, match="only be a session's first context"):
            session.run("again", Context.from_file(book))
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["contexts"] == [{"files": [str(book)], "separator": "\n\n---\n\n"}]
    again, _ = make([code("print(n, P[:7], contexts[0][:5])"), "FINAL: ok"], "python")
    with again.session(restore=tmp_path / "s.json") as restored:
        _, trace = restored.run("recall")
    assert trace.of_kind("repl_exec")[0].stdout == "100 call me <file\n"
