"""A REPL that finishes opening after its run was cancelled is closed, even at loop shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from rlm_core import ReplError
from rlm_core.engine.run import _close_when_opened
from rlm_core.repl.base import REPL

from .repl.test_conformance import make_repl


def _closed(repl: REPL) -> bool:
    try:
        repl.exec("print(1)")
    except ReplError:
        return True
    return False


def test_a_late_repl_is_closed_after_the_default_executor_shut_down() -> None:
    """``asyncio.run`` shuts the default executor down before it closes the loop: a REPL
    that opens then (a streamed response left unread) used to raise from the callback."""
    repl, _ = make_repl("isolated")
    errors: list[dict[str, Any]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        await loop.shutdown_default_executor()
        opening: asyncio.Future[Any] = loop.create_future()
        opening.add_done_callback(_close_when_opened)
        opening.set_result((repl, None))
        await asyncio.sleep(0)  # the callback runs

    asyncio.run(main())

    assert errors == []
    deadline = time.monotonic() + 30
    while not _closed(repl):
        if time.monotonic() > deadline:
            repl.close()
            pytest.fail("the REPL was not closed")
        time.sleep(0.05)
