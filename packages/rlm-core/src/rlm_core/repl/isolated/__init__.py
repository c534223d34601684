"""The ``"isolated"`` backend: model code runs in a confined worker process.

Modules: ``host`` (``IsolatedREPL``, the REPL protocol), ``process`` (starting and killing a
worker), ``worker`` (the worker's request loop), ``sandbox`` (limits, Landlock, seccomp in the
worker), ``policy`` (the seccomp program and readable paths, built on the host), ``framing``
(messages and the plain-data codec), ``limits`` (``IsolationLimits``).
"""

from rlm_core.repl.isolated.host import IsolatedREPL, create_isolated_repl
from rlm_core.repl.isolated.limits import IsolationLimits

__all__ = ["IsolatedREPL", "IsolationLimits", "create_isolated_repl"]
