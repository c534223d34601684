"""Custom tools: described from their own signature, run on the host, plain data both ways."""

from __future__ import annotations

import asyncio
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from rlm_core import RLM, ConfigError, Event
from rlm_core.adapters import FakeAdapter

from .helpers import code

BACKENDS = ["isolated", "python", "monty"]


def make(script: list[str], backend: str, **options: Any) -> tuple[RLM, FakeAdapter]:
    adapter = FakeAdapter(script=script)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter, repl_backend=backend, **options), adapter


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tool_reads_a_host_file_the_sandbox_cannot(backend: str, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("the vault code is 4417")
    calls_seen: list[str] = []

    def read_note(name: str) -> str:
        """Read one of the user's notes from disk."""
        calls_seen.append(threading.current_thread().name)
        return (tmp_path / name).read_text()

    direct = code(
        f"try:\n    print(open({str(note)!r}).read())\nexcept Exception as error:\n"
        "    print('refused:', type(error).__name__)"
    )
    script = [direct, code("text = read_note('note.txt')\nprint(text[-4:])"), "FINAL_VAR: text"]
    events: list[Event] = []
    rlm, adapter = make(script, backend, tools=[read_note], event_listener=events.append)
    answer, trace = rlm.run("what is the vault code?", "no code in here")
    assert answer == "the vault code is 4417"
    first, second = trace.of_kind("repl_exec")
    assert first.stdout.startswith("refused:") and "4417" not in first.stdout
    assert second.stdout == "4417\n"
    (tool_step,) = trace.of_kind("tool_call")
    assert tool_step.metadata["tool"] == "read_note"
    assert tool_step.prompt == "'note.txt'" and tool_step.parent_id == second.step_id
    assert [e.type for e in events if e.kind == "tool_call"] == ["step_start", "step_end"]
    assert len(calls_seen) == 1
    assert (
        "- read_note(name) -> str: Read one of the user's notes from disk."
        in (adapter.calls[0][0]["content"])
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tool_error_is_shown_to_the_model_not_raised(backend: str) -> None:
    def lookup(key: str) -> dict[str, int]:
        """Look a key up."""
        raise LookupError(f"no entry for {key}")

    script = [code("lookup('x')"), "FINAL: handled"]
    rlm, _ = make(script, backend, tools={"lookup": lookup})
    answer, trace = rlm.run("q", "text")
    assert answer == "handled"
    assert "no entry for x" in (trace.of_kind("repl_exec")[0].error or "")
    assert trace.of_kind("tool_call")[0].error == "LookupError: no entry for x"


@pytest.mark.parametrize("backend", BACKENDS)
def test_tool_results_must_be_plain_data(backend: str) -> None:
    def handle() -> object:
        """Return something that is not data."""
        return threading.Lock()

    rlm, _ = make([code("handle()"), "FINAL: done"], backend, tools=[handle])
    _, trace = rlm.run("q", "text")
    assert "must return plain data" in (trace.of_kind("repl_exec")[0].error or "")


@pytest.mark.parametrize("backend", ["isolated", "python"])
def test_tool_arguments_must_be_plain_data(backend: str) -> None:
    def echo(value: Any) -> Any:
        """Give the value back."""
        return value

    script = [code("class Thing:\n    pass\necho(Thing())"), code("echo(object())"), "FINAL: ok"]
    rlm, _ = make(script, backend, tools=[echo])
    _, trace = rlm.run("q", "text")
    first, second = (step.error or "" for step in trace.of_kind("repl_exec"))
    assert "echo() takes plain data" in first and "echo() takes plain data" in second
    if backend == "python":  # checked on the host, where the message names the type
        assert "got a Thing" in first and "got an object" in second
    assert not trace.of_kind("tool_call")


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_async_tool_is_awaited_on_the_callers_loop_on_the_async_path(backend: str) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def fetch(n: int) -> list[int]:
        """Fetch n numbers."""
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        return list(range(n))

    rlm, _ = make([code("nums = fetch(3)"), "FINAL_VAR: nums"], backend, tools=[fetch])

    async def main() -> tuple[str, asyncio.AbstractEventLoop]:
        answer, _ = await rlm.arun("q", "text")
        return answer, asyncio.get_running_loop()

    answer, caller_loop = asyncio.run(main())
    assert answer == "[0, 1, 2]"
    assert loops == [caller_loop]
    # The sync path runs the coroutine to completion too.
    rlm.adapter.extend([code("nums = fetch(2)"), "FINAL_VAR: nums"])  # type: ignore[attr-defined]
    assert rlm.run("q", "text")[0] == "[0, 1]"


def test_tool_names_that_collide_are_refused_at_construction() -> None:
    def llm_query(text: str) -> str:
        """Shadow a helper."""
        return text

    with pytest.raises(ConfigError, match="'llm_query' is already a REPL helper"):
        RLM(FakeAdapter(), tools=[llm_query])
    with pytest.raises(ConfigError, match="'P' is already a REPL helper or variable"):
        RLM(FakeAdapter(), tools={"P": len})
    with pytest.raises(ConfigError, match="not a Python identifier"):
        RLM(FakeAdapter(), tools={"two words": len})
    with pytest.raises(ConfigError, match="tool 'x' is not callable: int"):
        RLM(FakeAdapter(), tools={"x": 3})
    with pytest.raises(ConfigError, match="tool 'notcallable' is not callable: str; tools takes"):
        RLM(FakeAdapter(), tools=[len, "notcallable"])
    with pytest.raises(ConfigError, match="tools must be a list"):
        RLM(FakeAdapter(), tools="len")


def test_tools_work_in_a_session(tmp_path: Path) -> None:
    counter = {"n": 0}

    def bump() -> int:
        """Count a call."""
        counter["n"] += 1
        return counter["n"]

    script = [code("a = bump()"), "FINAL_VAR: a", code("b = bump() + a"), "FINAL_VAR: b"]
    rlm, _ = make(script, "isolated", tools=[bump])
    with rlm.session() as session:
        assert session.run("one", "text")[0] == "1"
        answer, trace = session.run("two")
    assert answer == "3" and len(trace.of_kind("tool_call")) == 1
