"""REPL backends behind one protocol.

Public names are imported on first use, so the sandboxed worker can import its modules from
this package without loading the backends.
"""

from typing import TYPE_CHECKING

from rlm_core._lazy import lazy_exports

if TYPE_CHECKING:
    from rlm_core.repl.base import (
        REPL,
        ExecResult,
        REPLFactory,
        REPLProtocol,
        backend_factory,
        backend_names,
        register_backend,
    )
    from rlm_core.repl.context_helpers import ContextHelpers
    from rlm_core.repl.helper_registry import HelperSet, HelperSpec, helper
    from rlm_core.repl.isolated import IsolatedREPL, IsolationLimits, create_isolated_repl
    from rlm_core.repl.monty_repl import MontyREPL, create_monty_repl
    from rlm_core.repl.python_repl import PythonREPL, create_python_repl

__all__ = [
    "REPL",
    "ContextHelpers",
    "ExecResult",
    "HelperSet",
    "HelperSpec",
    "IsolatedREPL",
    "IsolationLimits",
    "MontyREPL",
    "PythonREPL",
    "REPLFactory",
    "REPLProtocol",
    "backend_factory",
    "backend_names",
    "create_isolated_repl",
    "create_monty_repl",
    "create_python_repl",
    "helper",
    "register_backend",
]

_EXPORTS: dict[str, str] = {
    "REPL": "rlm_core.repl.base",
    "ExecResult": "rlm_core.repl.base",
    "REPLFactory": "rlm_core.repl.base",
    "REPLProtocol": "rlm_core.repl.base",
    "backend_factory": "rlm_core.repl.base",
    "backend_names": "rlm_core.repl.base",
    "register_backend": "rlm_core.repl.base",
    "ContextHelpers": "rlm_core.repl.context_helpers",
    "HelperSet": "rlm_core.repl.helper_registry",
    "HelperSpec": "rlm_core.repl.helper_registry",
    "helper": "rlm_core.repl.helper_registry",
    "IsolatedREPL": "rlm_core.repl.isolated.host",
    "IsolationLimits": "rlm_core.repl.isolated.limits",
    "create_isolated_repl": "rlm_core.repl.isolated.host",
    "MontyREPL": "rlm_core.repl.monty_repl",
    "create_monty_repl": "rlm_core.repl.monty_repl",
    "PythonREPL": "rlm_core.repl.python_repl",
    "create_python_repl": "rlm_core.repl.python_repl",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
