"""Replaying a recorded trace offline gives the same answer, from the recorded replies only."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rlm_core import RLM, Trace
from rlm_core.adapters import FakeAdapter
from rlm_core.adapters.replay import ReplayAdapter, replay_adapters
from rlm_core.cli import main
from rlm_core.errors import AdapterError

from tests.core.openai_server import OpenAIServer, RawJSON, Reply

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')

TEXT = "Intro. The launch code is 4417. Outro."
ROOT_SCRIPT = [
    "```python\nhits = grep('launch code')\nreplies = llm_batch(['a: ' + hits[0], 'b: ' + hits[0]])"
    "\nprint(replies)\n```",
    "```python\ncode = replies[0].split()[-1]\n```",
    "FINAL_VAR: code",
]


def _recorded() -> tuple[str, Trace]:
    root = FakeAdapter(ROOT_SCRIPT, model="root-model")
    sub = FakeAdapter(model="sub-model")
    sub.add_rule("a: ", "the code is 4417")
    sub.add_rule("b: ", "NOT FOUND")
    return RLM(root, subcall_adapter=sub, parallel_subcalls=True).run("Launch code?", TEXT)


def test_replay_reproduces_answer_and_steps() -> None:
    answer, trace = _recorded()
    assert answer == "4417"
    restored = Trace.from_json(trace.to_json())
    root, sub = replay_adapters(restored)
    again, new = RLM(root, subcall_adapter=sub, parallel_subcalls=True).run("Launch code?", TEXT)
    assert again == answer
    assert [s.kind for s in new.steps] == [s.kind for s in trace.steps]
    assert root.remaining == 0 and sub.remaining == 0
    batch = [s for s in new.steps if s.kind == "subcall"]
    assert sorted(s.response or "" for s in batch) == ["NOT FOUND", "the code is 4417"]
    for step in batch:  # each prompt got its own recorded reply, whatever the thread order
        assert ("4417" in (step.response or "")) == (step.prompt or "").startswith("a: ")


def test_replay_fails_loudly_when_the_run_diverges() -> None:
    _, trace = _recorded()
    root, sub = replay_adapters(trace)
    with pytest.raises(AdapterError, match="diverged"):
        # a different question makes a different run: one more root reply is requested
        RLM(root, subcall_adapter=sub).run("Launch code?", "no hits here at all")
    with pytest.raises(AdapterError, match="no more"):
        ReplayAdapter([]).complete([{"role": "user", "content": "x"}])


def test_replay_of_a_failed_model_call_raises() -> None:
    from rlm_core.trace import TraceStep

    adapter = ReplayAdapter([TraceStep(step_id=1, kind="root_call", error="AdapterError: 500")])
    with pytest.raises(AdapterError, match="500"):
        adapter.complete([{"role": "user", "content": "x"}])
    with pytest.raises(AdapterError, match="no root_call"):
        replay_adapters(Trace())


def test_cli_replay_after_ask(
    openai_server: OpenAIServer, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.enqueue(
        RawJSON({"data": []}),
        Reply("```python\nr = llm_query('Code? ' + grep('launch code')[0])\nprint(r)\n```"),
        Reply("4417"),
        Reply("FINAL: the code is 4417"),
    )
    trace_file = tmp_path / "t.json"
    argv = ["ask", "What is the launch code?", "-c", str(corpus), "--model", "m",
            "--base-url", openai_server.base_url, "-q", "--backend", "python",
            "--trace-out", str(trace_file)]  # fmt: skip
    assert main(argv) == 0
    openai_server.stop()  # replay must not need the server
    capsys.readouterr()
    assert main(["trace", "replay", str(trace_file), "-q"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "the code is 4417"
    assert "replay matches" in out.err

    # a tampered recording diverges: exit code 1 with both answers named
    data = json.loads(trace_file.read_text())
    data["answer"] = "something else"
    trace_file.write_text(json.dumps(data))
    assert main(["trace", "replay", str(trace_file), "-q"]) == 1
    assert "replay diverged" in capsys.readouterr().err


def test_cli_replay_needs_context_when_not_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, trace = _recorded()
    file = tmp_path / "t.json"
    file.write_text(trace.to_json())
    assert main(["trace", "replay", str(file)]) == 2
    assert "pass --context" in capsys.readouterr().err
    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT)
    assert main(["trace", "replay", str(file), "-c", str(doc), "-q"]) == 0
    assert capsys.readouterr().out.strip() == "4417"


def test_cli_replay_of_a_stdin_run_says_the_context_was_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, trace = _recorded()
    trace.metadata["cli"] = {"context": ["-"]}  # what `rlm ask ... --context -` records
    file = tmp_path / "t.json"
    file.write_text(trace.to_json())
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # nothing piped in this time
    assert main(["trace", "replay", str(file), "-q"]) == 2
    err = capsys.readouterr().err
    assert "the context is empty: standard input holds no text" in err
    assert f"{file} was recorded with --context - (standard input)" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(TEXT))  # the same text piped in again
    assert main(["trace", "replay", str(file), "-q"]) == 0
    assert capsys.readouterr().out.strip() == "4417"
