"""On the in-process backend, ``raise SystemExit`` / ``raise KeyboardInterrupt`` in model code
is a failed step, as on the other backends, while a real Ctrl-C still stops the run."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from rlm_core import Policy

from .helpers import code, make_rlm


def test_system_exit_and_keyboard_interrupt_from_model_code_are_failed_steps() -> None:
    script = [code("raise SystemExit('bye')"), code("raise KeyboardInterrupt"), "FINAL: done"]
    rlm, _ = make_rlm(script, policy=Policy(max_consecutive_errors=3))
    answer, trace = rlm.run("q", "text")
    assert answer == "done"
    errors = [step.error or "" for step in trace.of_kind("repl_exec")]
    assert "SystemExit: bye" in errors[0] and "KeyboardInterrupt" in errors[1]


def test_a_keyboard_interrupt_from_a_tool_still_stops_the_run() -> None:
    def wait_for_input() -> str:
        """Stands for host code the user interrupts."""
        raise KeyboardInterrupt

    rlm, _ = make_rlm([code("wait_for_input()"), "FINAL: never"], tools=[wait_for_input])
    with pytest.raises(KeyboardInterrupt):
        rlm.run("q", "text")


@pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="needs Python's own Ctrl-C handler",
)
def test_a_real_ctrl_c_while_model_code_runs_stops_the_run() -> None:
    rlm, _ = make_rlm([code("while True:\n    pass"), "FINAL: never"])
    timer = threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            rlm.run("q", "text")
    finally:
        timer.cancel()
