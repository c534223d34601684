"""``IsolatedREPL``: the host side of the isolated backend.

Model code runs in a confined worker process (see ``process.py``, ``worker.py`` and
``sandbox.py``). Context helpers and ``ctx`` run inside the worker on its own copy of the
context; the other helpers (sub-calls, retrieval) are forwarded here and served by the host's
helper object (the engine's ``Toolkit``).
When the worker dies or hits a limit it is killed and restarted, and the model is told that
its variables were lost.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import pickle
import threading
import time
import weakref
from typing import Any

from rlm_core._mapped_text import MAX_CONTEXT_FILES, files_to_wire
from rlm_core.context import FileContext
from rlm_core.errors import ReplError
from rlm_core.repl.base import DEFAULT_MAX_OUTPUT_CHARS, ExecResult, cap_output
from rlm_core.repl.context_helpers import ContextHelpers
from rlm_core.repl.helper_registry import HelperSpec
from rlm_core.repl.isolated import policy
from rlm_core.repl.isolated.framing import (
    NotPlainData,
    PeerClosed,
    ProtocolError,
    Timeout,
    encode,
    loads_plain,
    recv_bytes,
)
from rlm_core.repl.isolated.keeper import retire, take_worker
from rlm_core.repl.isolated.limits import MB, IsolationLimits
from rlm_core.repl.isolated.process import (
    WorkerProcess,
    WorkerStartError,
    fill_memfd,
    new_memfd,
)

MAX_ERROR_CHARS = 20_000
# The helpers the worker runs itself (it builds a ``ContextHelpers`` over its copy of the
# context); every other helper is forwarded to the host's helper object.
WORKER_HELPERS = frozenset(spec.name for spec in ContextHelpers.specs(with_retriever=False))
LOST_NOTE = (
    "The REPL worker was killed and restarted: every variable defined so far is lost "
    "(P, ctx and the helper functions are available again)."
)


class _WorkerLost(Exception):
    """The worker is gone or misbehaved; the message says why."""


class _Resources:
    """What must be released even if the REPL is never closed (used by weakref.finalize)."""

    def __init__(self, text_fd: int) -> None:
        self.text_fd = text_fd
        self.worker: WorkerProcess | None = None

    def release(self) -> None:
        if self.worker is not None:
            retire(self.worker)  # killed now, reaped off this thread
            self.worker = None
        if self.text_fd >= 0:
            os.close(self.text_fd)
            self.text_fd = -1


class IsolatedREPL:
    """A persistent Python session in a confined worker process (Linux only).

    Limits are given as ``limits=IsolationLimits(...)`` or as its fields by keyword
    (``memory_mb=512, cpu_seconds=10, wall_seconds=30, ...``).
    """

    def __init__(
        self,
        toolkit: ContextHelpers,
        *,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        limits: IsolationLimits | None = None,
        **limit_options: Any,
    ) -> None:
        self.toolkit = toolkit
        self.max_output_chars = max_output_chars
        self.limits = limits if limits is not None else IsolationLimits(**limit_options)
        specs = toolkit.available_specs()
        local = [s.name for s in specs if s.name in WORKER_HELPERS]
        remote = {s.name: s.describe() for s in specs if s.name not in WORKER_HELPERS}
        self._remote = frozenset(remote)
        self._lock = threading.Lock()
        self._variables: dict[str, Any] = {}  # set by the host: replayed after a restart
        self._closed = False
        self._init = self._init_message(local, remote, specs)
        self._res = _Resources(new_memfd())
        self._finalizer = weakref.finalize(self, self._res.release)
        try:
            self._res.worker = self._spawn(fill_context=True)
        except BaseException:
            self._finalizer()
            raise

    # -- set-up --------------------------------------------------------------------------------
    def _init_message(
        self, local: list[str], remote: dict[str, str], specs: list[HelperSpec]
    ) -> dict[str, Any]:
        from rlm_core.repl.isolated import sandbox

        limits = self.limits
        try:
            program = policy.seccomp_program()
        except policy.PolicyUnavailable as error:
            raise ReplError(f'repl_backend="isolated" is unavailable: {error}') from None
        landlock = sandbox.landlock_abi() > 0
        if not landlock and limits.require_landlock:
            raise ReplError(
                'repl_backend="isolated" needs Landlock (Linux >= 5.13 with the landlock LSM '
                "enabled) to keep model code away from the host's files; enable it, use "
                'repl_backend="monty", or pass require_landlock=False to accept that risk'
            )
        context = self.toolkit.context
        return {
            "local_helpers": local,
            "remote_helpers": remote,
            "plain_only": sorted(spec.name for spec in specs if spec.group == "tools"),
            "max_output_chars": self.max_output_chars,
            "memory_bytes": limits.memory_mb * MB,
            "file_bytes": limits.scratch_mb * MB,
            "open_files": limits.open_files,
            "landlock": landlock,
            "readable": policy.readable_paths(),
            "seccomp": program,
            "starts": list(context._starts),
            "lengths": list(context._lengths),
            "separator": context.separator,
            "context_type": context.context_type,
        }

    def _spawn(self, *, fill_context: bool = False) -> WorkerProcess:
        try:
            worker = take_worker()
        except OSError as error:
            raise ReplError(f'repl_backend="isolated": cannot start a worker: {error}') from None
        try:
            fds = [self._res.text_fd]
            context = self.toolkit.context
            if isinstance(context, FileContext):  # the worker maps the same files itself
                fds = [file.fd for file in context.files]
                if len(fds) > MAX_CONTEXT_FILES:
                    raise ReplError(
                        f'repl_backend="isolated" maps at most {MAX_CONTEXT_FILES} context '
                        f"files, this context has {len(fds)}: join small files into fewer "
                        'ones, or use repl_backend="python" for trusted code'
                    )
                self._init["mapped"] = files_to_wire(context.files)
            elif fill_context:  # while the new interpreter boots
                self._init["text_bytes"] = fill_memfd(self._res.text_fd, context)
            init = {**self._init, "variables": self._variables}
            worker.handshake(init, fds, start_seconds=self.limits.start_seconds)
        except WorkerStartError as error:
            raise ReplError(f'repl_backend="isolated": {error}') from None
        except BaseException:
            worker.kill()
            raise
        return worker

    def _worker(self) -> WorkerProcess:
        if self._closed:
            raise ReplError("this REPL is closed")
        if self._res.worker is None:
            self._res.worker = self._spawn()
        return self._res.worker

    def _drop_worker(self) -> None:
        """Kill the worker; the next call starts a new one."""
        if self._res.worker is not None:
            retire(self._res.worker)
            self._res.worker = None

    def _restart(self) -> str:
        """Replace the worker; returns a note for the model."""
        self._drop_worker()
        try:
            self._res.worker = self._spawn()
        except ReplError as error:
            return f"{LOST_NOTE} (The restart failed: {error}; it will be retried.)"
        return LOST_NOTE

    # -- the REPL protocol ---------------------------------------------------------------------
    def exec(self, code: str) -> ExecResult:
        if not isinstance(code, str):
            raise TypeError(f"code must be str, got {type(code).__name__}")
        with self._lock:
            worker = self._worker()
            try:
                worker.allow_cpu(self.limits.cpu_seconds)
                worker.sock.sendall(encode(("exec", code)))
                return self._serve(worker)
            except (_WorkerLost, OSError) as lost:
                reason = str(lost) if isinstance(lost, _WorkerLost) else f"channel failed: {lost}"
                note = self._restart()
                return ExecResult(stdout="", error=f"REPL worker stopped: {reason}.\n{note}")
            except BaseException:
                self._drop_worker()  # interrupted mid-exchange: the channel is out of step
                raise

    def get(self, name: str) -> Any:
        with self._lock:
            worker = self._worker()
            try:
                worker.sock.sendall(encode(("get", name)))
                reply = self._reply(worker, time.monotonic() + self.limits.wall_seconds)
            except (_WorkerLost, OSError) as lost:
                self._restart()
                raise KeyError(f"REPL variable {name!r} could not be read ({lost})") from None
            except BaseException:
                self._drop_worker()
                raise
        if reply == ("missing",):
            raise KeyError(f"REPL variable {name!r} is not defined")
        if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "value":
            return reply[1]
        self._restart()
        raise KeyError(f"REPL variable {name!r} could not be read (malformed reply)")

    def set(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"REPL variable name must be an identifier, got {name!r}")
        try:
            message = encode(("set", name, value))
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise TypeError(
                f"cannot send {type(value).__name__} to the isolated REPL: {error}"
            ) from None
        with self._lock:
            self._variables[name] = value
            worker = self._worker()
            try:
                worker.sock.sendall(message)
                reply = self._reply(worker, time.monotonic() + self.limits.wall_seconds)
                if reply != ("ok",):
                    raise _WorkerLost("malformed reply")
            except (_WorkerLost, OSError):
                self._restart()  # the restarted worker receives the value at start-up
            except BaseException:
                self._drop_worker()
                raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            worker = self._res.worker
            if worker is not None:
                with contextlib.suppress(OSError):
                    worker.sock.sendall(encode(("close",)))
            self._finalizer()

    @property
    def worker_pid(self) -> int | None:
        """The current worker's process id (for diagnostics and tests)."""
        worker = self._res.worker
        return None if worker is None else worker.pid

    # -- the exchange while code runs ----------------------------------------------------------
    def _serve(self, worker: WorkerProcess) -> ExecResult:
        """Answer helper calls until the worker reports the result; only time spent in the
        worker counts against ``wall_seconds``."""
        budget = float(self.limits.wall_seconds)
        while True:
            started = time.monotonic()
            message = self._reply(worker, started + budget)
            budget -= time.monotonic() - started
            kind = message[0] if isinstance(message, tuple) and message else None
            if kind == "call" and len(message) == 4:
                worker.sock.sendall(self._call(message[1], message[2], message[3]))
            elif kind == "done" and len(message) == 4:
                return self._result(message)
            else:
                raise _WorkerLost("it sent an unexpected message")

    def _reply(self, worker: WorkerProcess, deadline: float) -> Any:
        try:
            data = recv_bytes(
                worker.sock, max_bytes=self.limits.max_message_mb * MB, deadline=deadline
            )
            return loads_plain(data)
        except Timeout:
            raise _WorkerLost(
                f"wall time limit of {self.limits.wall_seconds:g}s exceeded"
            ) from None
        except PeerClosed:
            raise _WorkerLost(worker.exit_reason()) from None
        except (ProtocolError, NotPlainData) as error:
            raise _WorkerLost(f"protocol violation: {error}") from None

    def _call(self, name: Any, args: Any, kwargs: Any) -> bytes:
        if name not in self._remote:
            return encode(("raise", "NameError", "NameError", f"no helper named {name!r}"))
        if (
            not isinstance(args, tuple)
            or not isinstance(kwargs, dict)
            or not all(isinstance(key, str) for key in kwargs)
        ):
            return encode(("raise", "TypeError", "TypeError", "malformed helper call"))
        try:
            value = self.toolkit.resolve(name)(*args, **kwargs)
        except Exception as error:
            return encode(("raise", type(error).__name__, _builtin_base(error), str(error)))
        try:
            return encode(("return", value))
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            return encode(
                ("raise", "TypeError", "TypeError", f"{name} result cannot be sent: {error}")
            )

    def _result(self, message: tuple[Any, ...]) -> ExecResult:
        _, stdout, error, truncated = message
        if not isinstance(stdout, str) or not isinstance(error, str | None):
            raise _WorkerLost("it sent a malformed result")
        stdout, cut = cap_output(stdout, self.max_output_chars + 200)
        if error is not None:
            error, _ = cap_output(error, MAX_ERROR_CHARS)
        return ExecResult(stdout=stdout, error=error, truncated=bool(truncated) or cut)


def _builtin_base(error: BaseException) -> str:
    """The name of the nearest builtin exception class of ``error``."""
    for cls in type(error).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return str(cls.__name__)
    return "Exception"


def create_isolated_repl(
    toolkit: ContextHelpers,
    *,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    limits: IsolationLimits | None = None,
    **limit_options: Any,
) -> IsolatedREPL:
    """The ``"isolated"`` backend factory; ``functools.partial(create_isolated_repl,
    memory_mb=256, wall_seconds=10)`` makes a factory with other limits."""
    return IsolatedREPL(toolkit, max_output_chars=max_output_chars, limits=limits, **limit_options)
