"""Workers' scratch directories, named after the host process so orphans can be removed.

A worker writes only in its own scratch directory, which the host removes when it reaps
the worker. A host that is killed (SIGKILL, a test timeout) cannot do that, so each
directory is named ``rlm-worker-<host pid>-<random>`` and the first worker a host starts
removes the directories of hosts that no longer run. The host also holds an exclusive
``flock`` on a file in each of its directories while it uses it, so a host in another PID
namespace sharing ``/tmp`` (whose pid looks dead from here) never loses its directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from pathlib import Path

PREFIX = "rlm-worker-"
HOST_LOCK = ".host-lock"

_swept = False
_sweep_lock = threading.Lock()


def new_scratch() -> tuple[str, int]:
    """A fresh scratch directory for one worker (orphans of dead hosts are removed first),
    and the descriptor holding its lock: close it after removing the directory."""
    _sweep_once()
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    fd = os.open(os.path.join(path, HOST_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def _held_elsewhere(path: Path) -> bool:
    """Whether a live host still holds ``path``'s lock (a missing lock file: no)."""
    try:
        fd = os.open(path / HOST_LOCK, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _host_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


def sweep_orphans(root: str | None = None) -> int:
    """Remove scratch directories whose host process no longer runs; how many were removed."""
    removed = 0
    for path in Path(root or tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid_text = path.name[len(PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or not path.is_dir() or path.is_symlink():
            continue
        pid = int(pid_text)
        if pid == os.getpid() or not _host_is_gone(pid) or _held_elsewhere(path):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(path)
            removed += 1
    return removed


def _sweep_once() -> None:
    global _swept
    with _sweep_lock:
        if _swept:
            return
        _swept = True
    with contextlib.suppress(OSError):
        sweep_orphans()
