"""The in-process backend: fastest, for trusted code only.

A restricted namespace is not a security boundary (Python's object graph
reaches ``os`` in one line), so this backend warns once per process and should
only run code you would run yourself.
"""

from __future__ import annotations

import builtins
import dis
import importlib
import threading
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rlm_core.repl.base import (
    REPL_FILENAME,
    ExecResult,
    OutputBuffer,
    format_error,
    split_last_expression,
)

if TYPE_CHECKING:
    from rlm_core.repl.context_helpers import ContextHelpers

ALLOWED_MODULES = frozenset(
    {
        "re",
        "math",
        "json",
        "textwrap",
        "string",
        "collections",
        "itertools",
        "functools",
        "statistics",
        "datetime",
        "random",
        "heapq",
        "bisect",
        "operator",
        "unicodedata",
        "difflib",
        "fractions",
        "decimal",
        "dataclasses",
        "typing",
        "copy",
        "time",
    }
)
_REMOVED_BUILTINS = frozenset(
    {
        "open",
        "input",
        "breakpoint",
        "exit",
        "quit",
        "help",
        "compile",
        "exec",
        "eval",
        "globals",
        "locals",
        "vars",
        "memoryview",
        "__loader__",
        "__spec__",
    }
)
_RAISE = dis.opmap["RAISE_VARARGS"]
_warned = False
_warn_lock = threading.Lock()


def warn_trusted_only() -> None:
    """Warn once per process that the in-process backend is not a sandbox."""
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(
        'repl_backend="python" runs model-written code inside this process with no isolation; '
        "use it only with trusted models and trusted context documents",
        RuntimeWarning,
        stacklevel=3,
    )


def _guarded_import(
    name: str,
    globals: Mapping[str, object] | None = None,
    locals: Mapping[str, object] | None = None,
    fromlist: tuple[str, ...] = (),
    level: int = 0,
) -> Any:
    root = name.split(".", 1)[0]
    if level != 0 or root not in ALLOWED_MODULES:
        raise ImportError(
            f"import of {name!r} is not allowed here; available modules: "
            f"{', '.join(sorted(ALLOWED_MODULES))}"
        )
    module = importlib.import_module(name)
    return module if fromlist or "." not in name else importlib.import_module(root)


class PythonREPL:
    """Runs code with ``exec`` in one persistent namespace."""

    def __init__(self, toolkit: ContextHelpers, *, max_output_chars: int = 4000) -> None:
        self.max_output_chars = max_output_chars
        self._lock = threading.Lock()
        self._buffer = OutputBuffer(max_output_chars)
        safe_builtins = {
            name: value for name, value in vars(builtins).items() if name not in _REMOVED_BUILTINS
        }
        safe_builtins["__import__"] = _guarded_import
        safe_builtins["print"] = self._print
        self.namespace: dict[str, Any] = {"__builtins__": safe_builtins, "__name__": "__repl__"}
        self.namespace.update(toolkit.namespace())
        self.namespace["P"] = toolkit.context.text
        self.namespace["ctx"] = toolkit.context
        toolkit.variables = self.namespace

    def _print(
        self, *values: object, sep: str | None = " ", end: str | None = "\n", **_: Any
    ) -> None:
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        self._buffer.write(sep.join(str(value) for value in values) + end)

    def exec(self, code: str) -> ExecResult:
        with self._lock:
            self._buffer = buffer = OutputBuffer(self.max_output_chars)
            error: str | None = None
            try:
                body, last = split_last_expression(code)
                exec(compile(body, REPL_FILENAME, "exec"), self.namespace)
                if last is not None:
                    value = eval(compile(last, REPL_FILENAME, "eval"), self.namespace)
                    if value is not None:
                        buffer.write(repr(value) + "\n")
            except Exception as exc:
                error = format_error(exc)
            except BaseException as exc:  # SystemExit, KeyboardInterrupt, ...
                if not raised_by_code(exc):
                    raise  # e.g. the user's Ctrl-C: it stops the run
                error = format_error(exc)
            return ExecResult(stdout=buffer.getvalue(), error=error, truncated=buffer.dropped > 0)

    def get(self, name: str) -> Any:
        try:
            return self.namespace[name]
        except KeyError:
            raise KeyError(f"REPL variable {name!r} is not defined") from None

    def set(self, name: str, value: Any) -> None:
        self.namespace[name] = value

    def close(self) -> None:
        self.namespace.clear()


def raised_by_code(error: BaseException) -> bool:
    """Whether a ``raise`` statement of the model's code started ``error``.

    Only such a ``raise SystemExit`` or ``raise KeyboardInterrupt`` is a failed step like any
    other error. A real Ctrl-C starts from wherever the interpreter was (never at a ``raise``
    instruction), and one raised in a helper, tool or adapter starts outside the model's code:
    those stop the run as before.
    """
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return code.co_filename == REPL_FILENAME and code.co_code[tb.tb_lasti] == _RAISE


def create_python_repl(toolkit: ContextHelpers, *, max_output_chars: int = 4000) -> PythonREPL:
    warn_trusted_only()
    return PythonREPL(toolkit, max_output_chars=max_output_chars)
