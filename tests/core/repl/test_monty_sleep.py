"""Sleeps in model code count toward the sandbox's time limit, so a sleeping loop ends."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.core.repl.test_conformance import make_repl, run

SLEEPING_LOOP = "import time\nwhile True:\n    time.sleep(0.05)"


@pytest.mark.parametrize(
    ("backend", "options"),
    [("isolated", {"wall_seconds": 1.0, "cpu_seconds": 1}), ("monty", {"duration_seconds": 1.0})],
)
def test_a_sleeping_loop_is_stopped_by_the_time_limit(
    backend: str, options: dict[str, Any]
) -> None:
    repl, _ = make_repl(backend, **options)
    try:
        started = time.monotonic()
        result = repl.exec(SLEEPING_LOOP)
        assert result.error is not None
        assert time.monotonic() - started < 30  # it ended: no hang (the limit is 1 s)
        assert run(repl, "print(lenP() > 0)") == "True\n"
    finally:
        repl.close()


def test_monty_sleeps_within_the_budget_and_keeps_variables_after_a_refusal() -> None:
    repl, _ = make_repl("monty", duration_seconds=1.0)
    try:
        assert run(repl, "import time\nkept = 7\ntime.sleep(0.1)\nprint('slept')") == "slept\n"
        result = repl.exec("import time\ntime.sleep(5)")
        assert result.error is not None and "sleep budget used up" in result.error
        assert "lost" not in result.error  # a refused sleep leaves the session as it was
        assert run(repl, "print(kept)") == "7\n"
        caught = "import time\ntry:\n    time.sleep(9)\nexcept TimeoutError:\n    print('refused')"
        assert run(repl, caught) == "refused\n"  # each block gets the whole budget again
    finally:
        repl.close()


def test_monty_async_sleeps_count_and_files_stay_out_of_reach() -> None:
    repl, _ = make_repl("monty", duration_seconds=1.0)
    try:
        code = "import asyncio\nasync def wait():\n    await asyncio.sleep(5)\nasyncio.run(wait())"
        result = repl.exec(code)
        assert result.error is not None and "sleep budget used up" in result.error
        read = repl.exec("from pathlib import Path\nPath('/etc/hostname').read_text()")
        assert read.error is not None and "PermissionError" in read.error
    finally:
        repl.close()
