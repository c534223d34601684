"""Worker start-up and clean-up, kept off the thread that opens and closes REPLs.

Booting an interpreter costs most of a worker's start-up, so one booted, not yet configured
"spare" worker is kept per host process: a new REPL takes it (``take_worker``) and only pays
for loading its context and confining itself; the next spare is started by the keeper thread.
A spare is never used twice: it becomes one REPL's worker and is killed with it.

A worker that is done with is killed at once (``retire``: SIGKILL, so it runs no more code)
and reaped by the keeper thread (waited for, its socket closed, its scratch directory
removed). At interpreter exit the spare is killed and every retired worker is reaped before
the process ends; a forked child forgets its parent's spare and keeper.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
from dataclasses import dataclass, field

from rlm_core.repl.isolated.process import WorkerProcess

EXIT_WAIT_SECONDS = 10.0


class _Boot:
    """Keeper job: start a spare if none is kept."""


@dataclass
class _Mark:
    """Keeper job: note that every earlier job is done."""

    done: threading.Event = field(default_factory=threading.Event)


_Job = _Boot | _Mark | WorkerProcess


class _Keeper:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spare: WorkerProcess | None = None
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.started = False  # the keeper thread was started
        self.closing = False

    def submit(self, job: _Job) -> bool:
        """Queue ``job`` for the keeper thread; False once the process is exiting.

        Nothing is allocated while the lock is held: a garbage collection there could run a
        REPL's finalizer, which retires its worker through this very method.
        """
        with self.lock:
            if self.closing:
                return False
            start, self.started = not self.started, True
        if start:
            threading.Thread(target=self.serve, name="rlm-worker-keeper", daemon=True).start()
        self.jobs.put(job)  # SimpleQueue.put may be called from a finalizer
        return True

    def serve(self) -> None:
        while True:
            job = self.jobs.get()
            if isinstance(job, WorkerProcess):
                job.reap()
            elif isinstance(job, _Mark):
                job.done.set()
            else:
                self.boot_spare()

    def boot_spare(self) -> None:
        with self.lock:
            if self.spare is not None or self.closing:
                return
        try:
            spare = WorkerProcess()
        except OSError:
            return  # the next take_worker starts one itself, and reports the error
        with self.lock:
            if self.spare is None and not self.closing:
                self.spare = spare
                return
        spare.kill()

    def take(self) -> WorkerProcess | None:
        with self.lock:
            spare, self.spare = self.spare, None
        return spare

    def shut_down(self) -> None:
        """Kill the spare and reap every retired worker (at interpreter exit)."""
        with self.lock:
            self.closing = True
            spare, self.spare = self.spare, None
            running = self.started
        if spare is not None:
            spare.kill()
        if running:
            mark = _Mark()
            self.jobs.put(mark)
            mark.done.wait(EXIT_WAIT_SECONDS)  # jobs run in order: all earlier ones are done


_keeper = _Keeper()


def take_worker() -> WorkerProcess:
    """A booted worker (the spare if there is a live one); the next spare boots meanwhile."""
    worker = _keeper.take()
    if worker is not None and worker.proc.poll() is not None:
        retire(worker)
        worker = None
    if worker is None:
        worker = WorkerProcess()
    _keeper.submit(_Boot())
    return worker


def retire(worker: WorkerProcess) -> None:
    """Kill ``worker`` now; reap it on the keeper thread (here, while the process exits)."""
    worker.stop()
    if not _keeper.submit(worker):
        worker.reap()


def _forget_in_child() -> None:
    """A forked child owns neither the parent's spare nor its keeper thread."""
    global _keeper
    spare = _keeper.spare
    _keeper = _Keeper()
    if spare is not None:
        with contextlib.suppress(OSError):
            spare.sock.close()  # the child's copy of the descriptor; the parent keeps its own


atexit.register(lambda: _keeper.shut_down())
os.register_at_fork(after_in_child=_forget_in_child)
