"""``time.sleep`` and ``asyncio.sleep`` for model code on the Monty backend, with a budget.

Monty's time limits count only the time its interpreter runs, and a sleep does not run it:
``while True: time.sleep(0.01)`` never reached the limit, and the run hung. So the session
sends sleeps to the host (``os_policy={"sleep": "call_host"}``), where this handler waits
for them, at most ``budget_s`` seconds in all per exec. A sleep that would go past the
budget raises ``TimeoutError`` in the model's code at once, without waiting.
"""

from __future__ import annotations

import math
import time
from typing import Any

SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "system.sleep", "system.async_sleep"})
REFUSED = "sleep budget used up"


class SleepBudget:
    """The ``os=`` handler of a Monty session's execs: waits for sleeps within a budget and
    leaves every other OS call to Monty's default (refused) behaviour."""

    def __init__(self, budget_s: float, not_handled: Any) -> None:
        self.budget_s = budget_s
        self.left = budget_s
        self.refused = False
        self._not_handled = not_handled

    def start_exec(self) -> None:
        """A new exec: the whole budget again."""
        self.left = self.budget_s
        self.refused = False

    def __call__(
        self, *, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], **_: Any
    ) -> Any:
        if name not in SLEEPS:
            return self._not_handled
        seconds = float(args[0]) if args else 0.0
        if math.isnan(seconds) or seconds < 0:
            raise ValueError("sleep length must be non-negative")
        if seconds > self.left:
            self.refused = True
            self.left = 0.0
            raise TimeoutError(
                f"{REFUSED}: the code may sleep {self.budget_s:g}s in all per run of a code "
                f"block (asked for {seconds:g}s more)"
            )
        self.left -= seconds
        time.sleep(seconds)
        return None
