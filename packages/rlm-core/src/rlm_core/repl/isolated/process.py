"""Starting, watching and killing one worker process.

The worker is a fresh interpreter started with ``subprocess.Popen`` (fork + exec done in C by
``_posixsubprocess``, so no Python code runs between fork and exec: safe from a multi-threaded
host). It does not inherit the host's heap, environment or open files; it receives only its
socket, and over it a sealed memfd holding the context text.

``keeper`` keeps one booted spare ready and reaps killed workers off the caller's thread.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rlm_core.context import Context
from rlm_core.repl.isolated.framing import loads_plain, recv_bytes, send_message
from rlm_core.repl.isolated.scratch import new_scratch

IMPORT_ROOT = str(Path(__file__).resolve().parents[3])  # the directory that holds rlm_core
# The worker imports its module plainly: the package __init__ files on the way are lazy, so only
# the standard library and the few rlm_core modules the worker needs are loaded (a test keeps it
# so). The import root leaves sys.path again before any model code can run.
BOOTSTRAP = """
import sys
sys.path.insert(0, sys.argv[1])
from rlm_core.repl.isolated.worker import main
del sys.path[0]
main(int(sys.argv[2]))
"""
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


class WorkerStartError(RuntimeError):
    """A worker could not be started or confined."""


def new_memfd() -> int:
    """An empty memfd for the context text (filled by ``fill_memfd``)."""
    return os.memfd_create("rlm-context", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)


def fill_memfd(fd: int, context: Context) -> int:
    """Write the context text as UTF-8 and seal the memfd read-only; returns its size."""
    import fcntl

    data = context.text.encode("utf-8", "surrogatepass")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return len(data)


class WorkerProcess:
    """A started and confined worker: its process, socket and scratch directory."""

    def __init__(self) -> None:
        """Start the interpreter; it boots and then waits for ``handshake``."""
        self.scratch, self._scratch_lock = new_scratch()
        host_sock, worker_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = host_sock
        try:
            env = {**CLEAN_ENV, "HOME": self.scratch, "TMPDIR": self.scratch}
            argv = [sys.executable, "-I", "-S", "-c", BOOTSTRAP, IMPORT_ROOT,
                    str(worker_sock.fileno())]  # fmt: skip
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.scratch,
                close_fds=True,
                pass_fds=(worker_sock.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            host_sock.close()
            self._remove_scratch()
            raise
        finally:
            worker_sock.close()
        self.pid = self.proc.pid
        self._cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]  # inherited from the host

    def handshake(self, init: dict[str, Any], fds: list[int], *, start_seconds: float) -> None:
        """Send the context's descriptors (the memfd, or the read-only context files) and the
        start-up message; return once the worker is confined and ready."""
        try:
            socket.send_fds(self.sock, [b"F"], fds)
            send_message(self.sock, {**init, "scratch": self.scratch})
            deadline = time.monotonic() + start_seconds
            reply = loads_plain(recv_bytes(self.sock, max_bytes=1 << 16, deadline=deadline))
        except Exception as error:
            self.kill()
            raise WorkerStartError(f"the isolated worker did not start: {error}") from None
        if not (isinstance(reply, tuple) and reply and reply[0] == "ready"):
            self.kill()
            detail = reply[1] if isinstance(reply, tuple) and len(reply) > 1 else reply
            raise WorkerStartError(f"the isolated worker could not confine itself: {detail}")

    def cpu_seconds(self) -> float:
        """CPU time used so far (user + system), read by the host from /proc."""
        with open(f"/proc/{self.pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def allow_cpu(self, seconds: int) -> None:
        """Let the worker use about ``seconds`` more CPU before the kernel sends SIGXCPU.

        Only the soft limit moves (the hard one stays unlimited: raising a hard limit needs
        CAP_SYS_RESOURCE); code that ignores SIGXCPU is stopped by the wall-time limit.
        """
        soft = int(self.cpu_seconds()) + seconds + 1
        if self._cpu_hard != resource.RLIM_INFINITY:
            soft = min(soft, self._cpu_hard)
        resource.prlimit(self.pid, resource.RLIMIT_CPU, (soft, self._cpu_hard))

    def exit_reason(self, wait: float = 1.0) -> str:
        """Why the worker ended (waits up to ``wait`` seconds, then kills it)."""
        try:
            code = self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.kill()
            return "it stopped answering"
        if code < 0:
            sig = -code
            if sig == signal.SIGXCPU:
                return "it exceeded its CPU time limit"
            if sig == signal.SIGKILL:
                return "it was killed (CPU or memory limit)"
            if sig == signal.SIGXFSZ:
                return "it wrote a file larger than its scratch limit"
            return f"it crashed ({signal.Signals(sig).name})"
        return f"it exited with code {code}"

    def kill(self) -> None:
        """Kill the process and reap it (``stop`` then ``reap``)."""
        self.stop()
        self.reap()

    def stop(self) -> None:
        """Send SIGKILL: from here on the worker runs no more code."""
        with contextlib.suppress(ProcessLookupError, OSError):
            self.proc.kill()

    def reap(self) -> None:
        """Wait for the killed process, close the socket, remove the scratch directory."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.sock.close()
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        """Remove the scratch directory, then let go of its lock."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._scratch_lock)
