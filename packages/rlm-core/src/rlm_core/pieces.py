"""Streamed text of model calls, and the answer text a run streams out of it.

An adapter whose model streams calls ``report_piece(text)`` for each piece it
receives. While a run is in progress its pieces go to the run (``pieces_to``),
which picks out the answer: a root reply that starts with ``FINAL:`` carries it,
and its text is passed on as it arrives (as ``answer_delta`` events) when the
run is set to keep it. ``AnswerText`` turns a run's events into the text a
user should see: the streamed pieces, then whatever of the final answer was not
streamed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from rlm_core.events import Event, current_step
from rlm_core.trace import TraceStep

PieceSink = Callable[[TraceStep | None, str], None]
"""Receives each streamed piece with the step whose model call produced it."""

_sink: ContextVar[PieceSink | None] = ContextVar("rlm_piece_sink", default=None)

MARKER = "FINAL:"
HOLD_BACK = len("FINAL_VAR")
DECIDE_WORDS = 5
"""Answer words after which a refusal test has its final say: a "nothing found" reply is
told by its first few words ("NOT FOUND", "answer: the text does not say ...")."""
_STOPS = ("`", "final_var")
"""Text that turns a reply away from a plain answer (compared in lower case, as the
parser reads markers in any case): code, or the answer named by a variable."""


@contextlib.contextmanager
def pieces_to(sink: PieceSink) -> Iterator[None]:
    """Send the pieces of model calls made in this context (and copies of it) to ``sink``."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def report_piece(text: str) -> None:
    """Hand one streamed piece of the current model call to the run in progress, if any.

    Adapters that stream their model's reply call this for every piece, so the run
    can stream its answer while the model writes it. Without a run it does nothing.
    """
    sink = _sink.get()
    if sink is not None and text:
        sink(current_step.get(), text)


class _Reply:
    """One root call's streamed text and how much of its answer part was passed on."""

    def __init__(self, may_answer: bool, refuses: Callable[[str], bool] | None = None) -> None:
        self.refuses = refuses
        self.text = ""
        self.state = "undecided" if may_answer else "off"
        self.body_start = 0
        self.sent = ""

    def _body(self) -> str | None:
        body = self.text[self.body_start :]
        lowered = body.lower()
        if any(stop in lowered for stop in _STOPS):
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
        if body is None or not self._accepted(body, ended=False):
            return ""
        return self._advance(body[: max(0, len(body) - HOLD_BACK)].rstrip())

    def finish(self) -> str:
        """The call ended: the held-back end of its answer, if it still stands."""
        if self.state != "live":
            return ""
        body = self._body()
        if body is None or not self._accepted(body, ended=True):
            return ""
        return self._advance(body.rstrip())

    def _accepted(self, body: str, *, ended: bool) -> bool:
        """Whether the run keeps this answer as far as ``refuses`` can tell yet (nothing is
        sent while a short answer could still be a refused "nothing found")."""
        if self.refuses is None:
            return True
        if not ended and len(body.split()) < DECIDE_WORDS:
            return False
        if self.refuses(body.strip()):
            self.state = "off"
            return False
        return True

    def _advance(self, ready: str) -> str:
        if len(ready) <= len(self.sent) or not ready.startswith(self.sent):
            return ""
        new, self.sent = ready[len(self.sent) :], ready
        return new


class AnswerTap:
    """Watches one run's events and its root calls' pieces; passes answer text to ``emit``.

    A reply is streamed only when the run will take it as is: it is the finalize
    call, or an ordinary top-level step after the run's guards are met
    (``need_repl`` / ``need_subcall``) with no token budget that could end the run
    after the call (``token_budget``). ``refuses`` is the run's test for an answer it
    turns down (with the small profile's answer variable, a FINAL saying nothing was
    found): while an answer is short enough to still be one, nothing of it is sent,
    and a refused answer is never sent. A reply that turns to
    code (a backtick) or names a variable (``FINAL_VAR``, any case) stops being
    passed on; the last few characters are held back so such a marker is seen
    before any of it leaves. If prose already sent is followed by such a turn, the
    run's answer may differ from it: ``AnswerText`` then sends the answer whole. One
    reply per run is streamed.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        need_repl: bool = False,
        need_subcall: bool = False,
        token_budget: bool = False,
        refuses: Callable[[str], bool] | None = None,
    ) -> None:
        self.emit = emit
        self.refuses = refuses
        self.need_repl = need_repl
        self.need_subcall = need_subcall
        self.token_budget = token_budget
        self.sent = ""
        self._repl_ran = False
        self._subcalled = False
        self._replies: dict[int, _Reply] = {}
        self._lock = threading.Lock()

    def _may_answer(self, step: TraceStep) -> bool:
        if self.sent or step.depth != 0:
            return False
        purpose = step.metadata.get("purpose")
        if purpose == "finalize":
            return True
        if purpose != "step" or self.token_budget:
            return False
        return (self._repl_ran or not self.need_repl) and (self._subcalled or not self.need_subcall)

    def _take(self, text: str) -> str:
        """Record ``text`` as sent (under the lock); the caller emits it after releasing it,
        so a listener never runs while this lock is held."""
        self.sent += text
        return text

    def _emit(self, text: str) -> None:
        if text:
            self.emit(text)

    def on_piece(self, step: TraceStep | None, piece: str) -> None:
        """A streamed piece of some model call of the run (a ``PieceSink``)."""
        if step is None or step.kind != "root_call":
            return
        with self._lock:
            reply = self._replies.get(step.step_id)
            if reply is None:
                reply = self._replies[step.step_id] = _Reply(self._may_answer(step), self.refuses)
            text = self._take(reply.add(piece))
        self._emit(text)

    def on_event(self, event: Event) -> None:
        step = event.step
        if step is None or event.type not in ("step_start", "step_end"):
            return
        if "subcall" in step.kind:  # only ever marks that one was made: no reply is kept
            if event.type == "step_start" and not self._subcalled:
                with self._lock:
                    self._subcalled = True
            return
        text = ""
        with self._lock:
            if event.type == "step_end":
                if step.kind == "repl_exec" and step.depth == 0:
                    self._repl_ran = True
                reply = self._replies.pop(step.step_id, None)
                if reply is not None and not step.error:
                    text = self._take(reply.finish())
        self._emit(text)


class AnswerText:
    """The answer text a user sees from a run's events, in order.

    ``feed(event)`` returns the text to show for that event: an ``answer_delta``'s
    piece as it comes, and at ``run_end`` whatever of the answer was not streamed.
    If the streamed start turns out not to be the start of the final answer (it
    cannot happen with the engine's rules, but an answer may be post-processed),
    the whole answer follows on a new line and ``diverged`` is set.
    """

    def __init__(self) -> None:
        self.sent = ""
        self.diverged = False

    def feed(self, event: Event) -> str:
        if event.depth != 0:
            return ""
        if event.type == "answer_delta":
            text = str(event.data.get("text", ""))
            self.sent += text
            return text
        if event.type == "run_end":
            return self.rest(str(event.data.get("answer", "")))
        return ""

    def rest(self, answer: str) -> str:
        """What is left to show of the final ``answer`` after what was streamed."""
        if answer.startswith(self.sent):
            rest = answer[len(self.sent) :]
        else:
            self.diverged = True
            rest = "\n" + answer
        self.sent = answer
        return rest
