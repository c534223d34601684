"""The ``"isolated"`` backend: model code runs in a confined worker process.

Modules: ``host`` (``IsolatedREPL``, the REPL protocol), ``process`` (starting and killing a
worker), ``keeper`` (the spare worker; reaping off the caller's thread), ``worker`` (the
worker's request loop), ``sandbox`` (limits, Landlock, seccomp in the worker), ``policy`` (the
seccomp program and readable paths, built on the host), ``framing`` (messages and the
plain-data codec), ``limits`` (``IsolationLimits``).

Public names are imported on first use: the worker imports ``worker`` through this package
and must not load the host side.
"""

from typing import TYPE_CHECKING

from rlm_core._lazy import lazy_exports

if TYPE_CHECKING:
    from rlm_core.repl.isolated.host import IsolatedREPL, create_isolated_repl
    from rlm_core.repl.isolated.limits import IsolationLimits

__all__ = ["IsolatedREPL", "IsolationLimits", "create_isolated_repl"]

_EXPORTS: dict[str, str] = {
    "IsolatedREPL": "rlm_core.repl.isolated.host",
    "IsolationLimits": "rlm_core.repl.isolated.limits",
    "create_isolated_repl": "rlm_core.repl.isolated.host",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
