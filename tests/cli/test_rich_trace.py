"""RichTraceListener prints each step of a run from the event stream."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from rlm_core import RLM
from rlm_core.adapters import FakeAdapter
from rlm_core.cli._progress import PlainProgress, progress_listener
from rlm_core.rich_trace import RichTraceListener

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')


def _run(listener: object) -> str:
    adapter = FakeAdapter(
        [
            "snippet = peek(40)\nsummary = llm_query(f'Summarize: {snippet}')\nprint(summary)\n"
            "answer = summary",
            "Thinking [bold]out loud[/bold]",
            "FINAL_VAR: answer",
        ]
    )
    adapter.add_rule("You are a sub-LLM", "[fake] summary")
    answer, _ = RLM(adapter, event_listener=listener).run(
        "Summarize the first chunk.", "RLMs treat long prompts as environment state."
    )
    return answer


def test_rich_listener_shows_steps_subcalls_guards_and_answer() -> None:
    buffer = io.StringIO()
    listener = RichTraceListener(console=Console(file=buffer, width=120, color_system=None))
    assert _run(listener) == "[fake] summary"
    text = buffer.getvalue()
    assert "Summarize the first chunk." in text
    assert "#2 repl" in text and "summary = llm_query" in text
    assert "#3 subcall ← #2" in text and "→ [fake] summary" in text
    assert "guard:" in text  # the reply without code or FINAL
    assert "Thinking [bold]out loud[/bold]" in text  # markup in replies is shown, not applied
    assert "answer" in text and listener.steps == 5


def test_progress_listener_choice() -> None:
    assert progress_listener(quiet=True) is None
    assert isinstance(progress_listener(quiet=False, stream=io.StringIO()), PlainProgress)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_listener(quiet=False, stream=Tty()), RichTraceListener)
