"""Threads kept between batches: reused, bounded by the batch, gone when idle, fork-safe."""

from __future__ import annotations

import os
import threading
import time

import pytest

from rlm_core.adapters import ModelResponse, Usage
from rlm_core.engine import idle_threads

from tests.core.helpers import SUB, code
from tests.core.test_subcalls import CTX, _rlm


class ThreadRecorder:
    """Root replies from a script; every sub-call notes the thread that ran it."""

    model = "threads"

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.threads: list[threading.Thread] = []  # the objects: a new thread is a new one

    def complete(self, messages: list[dict[str, str]], **_: object) -> ModelResponse:
        if not messages[0]["content"].startswith(SUB):
            return ModelResponse(self.script.pop(0), Usage(1, 1))
        self.threads.append(threading.current_thread())
        time.sleep(0.01)
        return ModelResponse("ok", Usage(1, 1))


def run_and_wait(task: idle_threads.Task, timeout: float = 5.0) -> int:
    """Run ``task`` through ``run_on_idle``; the id of the thread that ran it."""
    ran = threading.Event()
    ident: list[int] = []

    def wrapped() -> None:
        task()
        ident.append(threading.get_ident())
        ran.set()

    idle_threads.run_on_idle(wrapped)
    assert ran.wait(timeout)
    return ident[0]


def test_a_second_batch_runs_on_the_threads_of_the_first() -> None:
    batch = code("r = llm_batch([str(i) for i in range(8)])")
    adapter = ThreadRecorder([batch, "FINAL: one", batch, "FINAL: two"])
    rlm = _rlm(adapter, max_concurrent_subcalls=4)
    rlm.run("q", CTX)
    first = set(adapter.threads)
    adapter.threads.clear()
    rlm.run("q", CTX)
    second = set(adapter.threads)
    assert 1 < len(first) <= 4 and 1 < len(second) <= 4
    assert second & first  # threads kept from the first batch made calls of the second
    assert threading.current_thread() not in first | second


def test_an_idle_thread_ends_after_the_idle_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idle_threads, "IDLE_SECONDS", 0.05)
    ident = run_and_wait(lambda: None)
    deadline = time.monotonic() + 5
    while any(t.ident == ident for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the idle thread did not end"
        time.sleep(0.01)
    assert run_and_wait(lambda: None) != 0  # a new thread is started when none is kept


def test_a_forked_child_starts_its_own_threads() -> None:
    run_and_wait(lambda: None)  # at least one thread kept in this process
    assert idle_threads.idle_count() >= 1
    pid = os.fork()
    if pid == 0:  # the child: the parent's threads do not exist here
        try:
            ok = idle_threads.idle_count() == 0 and run_and_wait(lambda: None, 2.0) > 0
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
