"""Picking the answer out of the root model's streamed replies while a run is in progress.

A root reply that starts with ``FINAL:`` carries the answer. Its text is passed on
as it arrives when the run will certainly take it: no guard can reject it (the
run's guards are met, or it is the finalize call) and no token budget could end
the run after the call. A reply that turns to code (a backtick) or names a
variable (``FINAL_VAR``) stops being passed on; the last few characters are held
back so such a marker is seen before any of it leaves. When the run ends, the
caller compares what was sent with the real answer and sends the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rlm_core import Event, TraceStep

MARKER = "FINAL:"
HOLD_BACK = len("FINAL_VAR")
_STOPS = ("`", "FINAL_VAR")


class _Reply:
    """One root call's streamed text and how much of its answer part was passed on."""

    def __init__(self, may_answer: bool) -> None:
        self.text = ""
        self.state = "undecided" if may_answer else "off"
        self.body_start = 0
        self.sent = ""

    def _body(self) -> str | None:
        body = self.text[self.body_start :]
        if any(stop in body for stop in _STOPS):
            self.state = "off"
            return None
        return body.lstrip()

    def add(self, piece: str) -> str:
        """Take a piece; the answer text that may be passed on now."""
        self.text += piece
        if self.state == "undecided":
            head = self.text.lstrip()
            if head.startswith(MARKER):
                self.state = "live"
                self.body_start = self.text.index(MARKER) + len(MARKER)
            elif not MARKER.startswith(head):
                self.state = "off"
        if self.state != "live":
            return ""
        body = self._body()
        if body is None:
            return ""
        ready = body[: max(0, len(body) - HOLD_BACK)].rstrip()
        return self._advance(ready)

    def finish(self) -> str:
        """The call ended: the held-back end of its answer, if it still stands."""
        if self.state != "live":
            return ""
        body = self._body()
        return "" if body is None else self._advance(body.rstrip())

    def _advance(self, ready: str) -> str:
        if len(ready) <= len(self.sent) or not ready.startswith(self.sent):
            return ""
        new, self.sent = ready[len(self.sent) :], ready
        return new


class AnswerTap:
    """Listens to a run's events and its root calls' pieces; passes answer text to ``emit``.

    ``need_repl`` / ``need_subcall`` mirror the run's guards; ``token_budget`` is
    true when a token limit could still end the run after a reply.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        need_repl: bool = False,
        need_subcall: bool = False,
        token_budget: bool = False,
    ) -> None:
        self.emit = emit
        self.need_repl = need_repl
        self.need_subcall = need_subcall
        self.token_budget = token_budget
        self.sent = ""
        self._repl_ran = False
        self._subcalled = False
        self._replies: dict[int, _Reply] = {}
        self._lock = threading.Lock()

    def _may_answer(self, step: TraceStep) -> bool:
        if self.sent:
            return False  # one reply per run is streamed live
        purpose = step.metadata.get("purpose")
        if purpose == "finalize":
            return True
        if purpose != "step" or self.token_budget:
            return False
        return (self._repl_ran or not self.need_repl) and (self._subcalled or not self.need_subcall)

    def _send(self, text: str) -> None:
        if text:
            self.sent += text
            self.emit(text)

    def on_piece(self, step: TraceStep | None, piece: str) -> None:
        """A streamed piece of some model call of the run (a ``deltas`` sink)."""
        if step is None or step.kind != "root_call":
            return
        with self._lock:
            reply = self._replies.get(step.step_id)
            if reply is None:
                reply = self._replies[step.step_id] = _Reply(self._may_answer(step))
            self._send(reply.add(piece))

    def on_event(self, event: Event) -> None:
        step = event.step
        if step is None:
            return
        with self._lock:
            if event.type == "step_start" and "subcall" in step.kind:
                self._subcalled = True
            elif event.type == "step_end":
                if step.kind == "repl_exec":
                    self._repl_ran = True
                reply = self._replies.pop(step.step_id, None)
                if reply is not None and not step.error:
                    self._send(reply.finish())

    def rest(self, answer: str) -> str | None:
        """What is left to send of ``answer``; ``None`` if what was sent is not its start."""
        with self._lock:
            if answer.startswith(self.sent):
                return answer[len(self.sent) :]
            return None
