"""REPL backends behind one protocol."""

from rlm_core.repl import python_repl as _python_repl  # noqa: F401  (registers "python")
from rlm_core.repl.base import (
    REPL,
    ExecResult,
    REPLFactory,
    REPLProtocol,
    backend_factory,
    backend_names,
    register_backend,
)
from rlm_core.repl.python_repl import PythonREPL

__all__ = [
    "REPL",
    "ExecResult",
    "PythonREPL",
    "REPLFactory",
    "REPLProtocol",
    "backend_factory",
    "backend_names",
    "register_backend",
]
