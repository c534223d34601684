"""Choosing the REPL backend when the user did not: the strongest sandbox this machine can run.

``repl_backend="auto"`` (the default) resolves to ``"isolated"`` where its worker can be
confined (Linux with seccomp and Landlock), otherwise to ``"monty"`` with one warning that says
why. It never resolves to the in-process ``"python"`` backend: that one is only ever chosen by
name.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlm_core.errors import ConfigError, ReplError
from rlm_core.repl.base import REPL, backend_factory

AUTO = "auto"
HOW_TO_CHOOSE = (
    'pass repl_backend="isolated" (Linux with Landlock and libseccomp), "monty" '
    '(pip install pydantic-monty) or, for trusted code only, "python"'
)


class BackendFallbackWarning(RuntimeWarning):
    """The default backend could not use the isolated worker and runs Monty instead."""


@dataclass(frozen=True, slots=True)
class BackendChoice:
    """Which backend runs model code, and why (recorded in every trace)."""

    name: str
    requested: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "requested": self.requested, "reason": self.reason}


def isolated_unavailable_reason() -> str | None:
    """Why the isolated worker cannot be confined here, or ``None`` when it can."""
    if not sys.platform.startswith("linux"):
        return f"the isolated backend needs Linux (this is {sys.platform})"
    if not hasattr(os, "memfd_create"):
        return "the isolated backend needs os.memfd_create (Linux >= 3.17)"
    try:
        from rlm_core.repl.isolated import policy, sandbox

        policy.seccomp_program()
        abi = sandbox.landlock_abi()
    except Exception as error:  # PolicyUnavailable, a libc without syscall(), ...
        return str(error) or type(error).__name__
    if abi < 1:
        return "this kernel has no Landlock (Linux >= 5.13 with the landlock LSM enabled)"
    return None


def monty_unavailable_reason() -> str | None:
    """Why the Monty backend cannot run here, or ``None`` when it can."""
    if importlib.util.find_spec("pydantic_monty") is None:
        return "pydantic-monty is not installed (no wheel for this platform?)"
    return None


_probe_lock = threading.Lock()
_probed: dict[str, str | None] = {}
_warned = False


def _cached(name: str, probe: Callable[[], str | None]) -> str | None:
    with _probe_lock:
        if name not in _probed:
            _probed[name] = probe()
        return _probed[name]


def forget_probes() -> None:
    """Probe again on the next choice (tests, or after installing a missing piece)."""
    global _warned
    with _probe_lock:
        _probed.clear()
        _warned = False


def choose_backend() -> BackendChoice:
    """The default's choice: isolated, else Monty (with one warning), else a clear error."""
    isolated_problem = _cached("isolated", isolated_unavailable_reason)
    if isolated_problem is None:
        return BackendChoice("isolated", AUTO, "sandboxed worker process available")
    return _fall_back_to_monty(isolated_problem)


def _fall_back_to_monty(isolated_problem: str) -> BackendChoice:
    monty_problem = _cached("monty", monty_unavailable_reason)
    if monty_problem is not None:
        raise ConfigError(
            "no sandboxed REPL backend can run on this machine: "
            f"isolated: {isolated_problem}; monty: {monty_problem}. {HOW_TO_CHOOSE}"
        )
    reason = f"isolated backend unavailable ({isolated_problem}); running Monty"
    _warn_once(reason)
    return BackendChoice("monty", AUTO, reason)


def _warn_once(reason: str) -> None:
    global _warned
    with _probe_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(
        f"repl_backend defaults to the strongest sandbox available: {reason}. "
        f"Monty runs a subset of Python in a Rust interpreter. To choose, {HOW_TO_CHOOSE}.",
        BackendFallbackWarning,
        stacklevel=4,
    )


class AutoReplFactory:
    """The default REPL factory: the isolated worker, or Monty where that cannot start.

    A worker that fails to start although the probes passed (a container that forbids
    ``seccomp``, say) also falls back, once, and every later REPL uses Monty directly.
    """

    def __init__(self) -> None:
        self.choice = choose_backend()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AutoReplFactory)

    def __hash__(self) -> int:
        return hash(AutoReplFactory)

    def __call__(self, toolkit: Any, *, max_output_chars: int) -> REPL:
        factory = backend_factory(self.choice.name)
        if self.choice.name != "isolated":
            return factory(toolkit, max_output_chars=max_output_chars)
        try:
            return factory(toolkit, max_output_chars=max_output_chars)
        except ReplError as error:
            with _probe_lock:
                _probed["isolated"] = str(error)
            self.choice = _fall_back_to_monty(str(error))
            return backend_factory("monty")(toolkit, max_output_chars=max_output_chars)


class NamedReplFactory:
    """A backend chosen by name, carrying the same ``choice`` record as the default."""

    def __init__(self, name: str) -> None:
        self._factory = backend_factory(name)
        self.choice = BackendChoice(name, name, "chosen explicitly")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NamedReplFactory) and other.choice == self.choice

    def __hash__(self) -> int:
        return hash(self.choice)

    def __call__(self, toolkit: Any, *, max_output_chars: int) -> REPL:
        return self._factory(toolkit, max_output_chars=max_output_chars)


def repl_factory_for(backend: str | Callable[..., REPL]) -> Callable[..., REPL]:
    """The factory for an option value: ``"auto"``, a backend name, or a user factory."""
    if backend == AUTO:
        return AutoReplFactory()
    if isinstance(backend, str):
        return NamedReplFactory(backend)
    return backend


def choice_of(factory: object) -> dict[str, str]:
    """What a factory says it runs, for the trace (``custom`` for user factories)."""
    choice = getattr(factory, "choice", None)
    if isinstance(choice, BackendChoice):
        return choice.as_dict()
    name = getattr(factory, "__name__", type(factory).__name__)
    return {"name": "custom", "requested": name, "reason": "a REPL factory passed by the user"}
