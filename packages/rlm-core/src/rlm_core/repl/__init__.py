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
from rlm_core.repl.isolated import IsolatedREPL, IsolationLimits, create_isolated_repl
from rlm_core.repl.monty_repl import MontyREPL, create_monty_repl
from rlm_core.repl.python_repl import PythonREPL

register_backend("isolated", create_isolated_repl)
register_backend("monty", create_monty_repl)

__all__ = [
    "REPL",
    "ExecResult",
    "IsolatedREPL",
    "IsolationLimits",
    "MontyREPL",
    "PythonREPL",
    "REPLFactory",
    "REPLProtocol",
    "backend_factory",
    "backend_names",
    "register_backend",
]
