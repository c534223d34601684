"""The ``"monty"`` backend: model code runs in pydantic-monty (1.x), a Python subset
interpreter with no access to the host unless the host grants it.

- The session runs in a ``monty`` worker subprocess from a one-worker pool; variables
  persist across ``exec`` calls. ``P`` is bound once per session (one copy into the worker).
- Helpers are host (external) functions; ``ctx`` is a ``ClassInstance`` proxy whose public
  ``Context`` methods run on the host (``ctx.find`` returns ``(start, end, text)`` named tuples).
- ``SHOW_VARS()`` is rewritten to pass the variables bound so far (monty has no ``globals()``).
- Limits: ``duration_seconds`` (execution time per exec, helper time excluded; sleeps wait
  on the host, ``duration_seconds`` in all per exec, see ``monty_sleep``), ``memory_mb``
  (sandbox heap), ``max_recursion_depth``, ``max_helper_calls`` (host round trips per session).
  Monty 1.x has no allocation-count limit.
- A timeout or a crashed worker discards the session; a new one is started with ``P``,
  ``ctx``, the helpers and the values set by the host, and the model is told its own
  variables were lost.
"""

from __future__ import annotations

import ast
import contextlib
import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from rlm_core.errors import ConfigError, ReplError
from rlm_core.repl.base import DEFAULT_MAX_OUTPUT_CHARS, ExecResult, OutputBuffer
from rlm_core.repl.context_helpers import describe_variables
from rlm_core.repl.monty_names import bound_names, pass_variables_to_show_vars
from rlm_core.repl.monty_sleep import REFUSED, SleepBudget

if TYPE_CHECKING:
    from rlm_core.repl.context_helpers import ContextHelpers

INSTALL_HINT = 'repl_backend="monty" needs pydantic-monty 1.x: pip install "rlm-core[monty]"'
CONTEXT_METHODS = frozenset(
    {
        "len_chars",
        "num_documents",
        "document_lengths",
        "get_document",
        "document_at",
        "slice",
        "page",
        "num_pages",
        "find",
        "chunk",
        "chunk_documents",
        "metadata",
    }
)
LOST_NOTE = (
    "The sandbox session was discarded and restarted: every variable defined so far is lost "
    "(P, ctx and the helper functions are available again)."
)


def _import_monty() -> Any:
    try:
        import pydantic_monty
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    if not pydantic_monty.__version__.startswith("1."):
        raise ConfigError(f"found pydantic-monty {pydantic_monty.__version__}; {INSTALL_HINT}")
    return pydantic_monty


class MontyREPL:
    """A persistent pydantic-monty session behind the REPL protocol."""

    def __init__(
        self,
        toolkit: ContextHelpers,
        *,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        duration_seconds: float = 30.0,
        memory_mb: int = 512,
        max_recursion_depth: int = 1000,
        max_helper_calls: int = 100_000,
    ) -> None:
        for name, value in (
            ("memory_mb", memory_mb),
            ("max_recursion_depth", max_recursion_depth),
            ("max_helper_calls", max_helper_calls),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"monty backend: {name} must be an int >= 1, got {value!r}")
        if (
            isinstance(duration_seconds, bool)
            or not isinstance(duration_seconds, int | float)
            or duration_seconds <= 0
        ):
            raise ConfigError(
                f"monty backend: duration_seconds must be > 0, got {duration_seconds!r}"
            )
        if not isinstance(toolkit.context.text, str):
            raise ReplError(
                'repl_backend="monty" needs the context text in memory; a file-backed context '
                '(Context.from_file) runs on the "isolated" or "python" backend'
            )
        self._monty = _import_monty()
        self.toolkit = toolkit
        self.max_output_chars = max_output_chars
        self._limits = {
            "max_feed_duration_secs": float(duration_seconds),
            "max_memory": memory_mb << 20,
            "max_recursion_depth": max_recursion_depth,
            "max_suspensions": max_helper_calls,
        }
        self._sleeps = SleepBudget(float(duration_seconds), self._monty.NOT_HANDLED)
        self._helpers: dict[str, Any] = dict(toolkit.namespace())
        self._helpers["SHOW_VARS"] = self._show_vars
        self._host_values: dict[str, Any] = {}
        self._names: set[str] = set()
        self._lock = threading.Lock()
        self._stack = ExitStack()
        try:
            self._pool = self._stack.enter_context(
                self._monty.Monty(max_processes=1, request_timeout=duration_seconds + 30)
            )
            self._session = self._open_session()
        except Exception as error:
            self._stack.close()
            raise ReplError(f"monty backend could not start: {error}") from error

    # -- sessions ------------------------------------------------------------------------------
    def _open_session(self) -> Any:
        session = self._pool.checkout(
            limits=self._limits, os_policy={"sleep": "call_host"}
        ).__enter__()
        context = self.toolkit.context
        proxy = self._monty.ClassInstance(context, allowed_methods=set(CONTEXT_METHODS))
        session.feed_run("pass", inputs={"P": context.text, "ctx": proxy, **self._host_values})
        self._names = set(self._host_values)
        return session

    def _restart(self) -> str:
        with contextlib.suppress(Exception):
            self._session.__exit__(None, None, None)
        try:
            self._session = self._open_session()
        except Exception as error:
            raise ReplError(f"monty backend could not restart its session: {error}") from error
        return LOST_NOTE

    def _show_vars(self, values: dict[str, Any] | None = None) -> str:
        return describe_variables(values or {})

    # -- the REPL protocol ---------------------------------------------------------------------
    def exec(self, code: str) -> ExecResult:
        monty = self._monty
        buffer = OutputBuffer(self.max_output_chars)
        with self._lock:
            try:
                tree = ast.parse(code)
            except SyntaxError:
                tree = None
            if tree is not None and "SHOW_VARS" in code:
                code = pass_variables_to_show_vars(tree, self._names - {"P", "ctx"})
            error: str | None = None
            self._sleeps.start_exec()
            try:
                value = self._session.feed_run(
                    code,
                    external_lookup=self._helpers,
                    print_callback=lambda _stream, text: buffer.write(text),
                    os=self._sleeps,
                )
                if value is not None:
                    buffer.write(repr(value) + "\n")
            except (monty.MontySyntaxError, monty.MontyRuntimeError) as exc:
                error = _short(exc.display())
                if self._timed_out(exc.display("type-msg")):
                    error += "\n" + self._restart()
            except monty.MontyCrashedError as exc:
                error = f"the sandbox worker crashed ({exc}).\n{self._restart()}"
            if tree is not None:
                self._names |= bound_names(tree)
            return ExecResult(stdout=buffer.getvalue(), error=error, truncated=buffer.dropped > 0)

    def _timed_out(self, message: str) -> bool:
        """Whether Monty stopped the code for running too long (its heap is then in doubt),
        not for a sleep refused by the budget (the session is fine)."""
        if "TimeoutError" not in message.split(":", 1)[0]:
            return False
        return not (self._sleeps.refused and REFUSED in message)

    def get(self, name: str) -> Any:
        if not isinstance(name, str) or not name.isidentifier():
            raise KeyError(f"REPL variable {name!r} is not defined")
        with self._lock:
            try:
                return self._session.feed_run(name)
            except self._monty.MontyRuntimeError:
                raise KeyError(f"REPL variable {name!r} is not defined") from None

    def set(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"REPL variable name must be an identifier, got {name!r}")
        with self._lock:
            self._host_values[name] = value
            self._session.feed_run("pass", inputs={name: value})
            self._names.add(name)

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(Exception):
                self._session.__exit__(None, None, None)
            self._stack.close()


def _short(traceback: str) -> str:
    """Monty's traceback with its internal file names replaced by the REPL's."""
    lines = [line for line in traceback.splitlines() if line.strip()]
    return "\n".join(lines[-12:])


def create_monty_repl(
    toolkit: ContextHelpers, *, max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS, **options: Any
) -> MontyREPL:
    """The ``"monty"`` backend factory (``options``: the limits of ``MontyREPL``)."""
    return MontyREPL(toolkit, max_output_chars=max_output_chars, **options)
