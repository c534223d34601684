"""The spare worker and the reaping of closed workers: off the caller's thread, never leaked.

A closed REPL's worker is killed at once and reaped by the keeper thread; a new REPL takes the
booted spare; at interpreter exit the spare and every retired worker are cleaned up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlm_core.context import Context
from rlm_core.repl.context_helpers import ContextHelpers
from rlm_core.repl.isolated import IsolatedREPL, keeper
from rlm_core.repl.selection import isolated_unavailable_reason

pytestmark = pytest.mark.skipif(
    isolated_unavailable_reason() is not None, reason="the isolated backend cannot run here"
)


def gone(pid: int) -> bool:
    """True once ``pid`` no longer exists at all (reaped, not a zombie)."""
    return not Path(f"/proc/{pid}").exists()


def wait_for(predicate, within: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def new_repl() -> IsolatedREPL:
    return IsolatedREPL(ContextHelpers(Context.from_text("some text")))


def test_a_closed_workers_process_and_scratch_are_gone_and_a_new_repl_gets_a_fresh_one() -> None:
    repl = new_repl()
    assert repl.exec("x = 1").error is None
    worker = repl._res.worker
    assert worker is not None
    pid, scratch = worker.pid, worker.scratch
    repl.close()
    assert wait_for(lambda: gone(pid)) and wait_for(lambda: not os.path.exists(scratch))
    assert wait_for(lambda: keeper._keeper.spare is not None)  # booted in the background
    spare_pid = keeper._keeper.spare.pid  # type: ignore[union-attr]
    second = new_repl()
    try:
        assert second.worker_pid == spare_pid != pid
        result = second.exec("print(x)")  # nothing of the first REPL's session survives
        assert result.error is not None and "NameError" in result.error
    finally:
        second.close()


EXITING_HOST = """
import json, sys, time
from rlm_core.context import Context
from rlm_core.repl.context_helpers import ContextHelpers
from rlm_core.repl.isolated import IsolatedREPL, keeper
repl = IsolatedREPL(ContextHelpers(Context.from_text("text")))
repl.exec("x = 1")
deadline = time.monotonic() + 10
while keeper._keeper.spare is None and time.monotonic() < deadline:
    time.sleep(0.01)
spare = keeper._keeper.spare
worker = repl._res.worker
print(json.dumps({"pids": [worker.pid, spare.pid], "dirs": [worker.scratch, spare.scratch]}))
sys.stdout.flush()
if sys.argv[1] == "close":
    repl.close()  # retired: reaped by the keeper thread, or at exit
"""


@pytest.mark.parametrize("ending", ["close", "leave-open"])
def test_nothing_is_left_behind_when_the_host_exits(ending: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXITING_HOST, ending],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout)
    for pid in seen["pids"]:
        assert wait_for(lambda pid=pid: gone(pid)), f"worker {pid} outlived its host"
    for folder in seen["dirs"]:
        assert not os.path.exists(folder), f"scratch directory {folder} was left behind"


def test_a_forked_child_does_not_take_its_parents_spare() -> None:
    repl = new_repl()
    repl.close()
    assert wait_for(lambda: keeper._keeper.spare is not None)
    parent_spare = keeper._keeper.spare.pid  # type: ignore[union-attr]
    pid = os.fork()
    if pid == 0:
        os._exit(0 if keeper._keeper.spare is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert keeper._keeper.spare is not None and keeper._keeper.spare.pid == parent_spare
    assert not gone(parent_spare)  # the child did not kill it either
