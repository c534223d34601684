"""The local executor: jobs run on a bounded pool of threads in this process.

Each job builds its own RLM (its REPL is its own sandboxed process with the default
backend), so threads only wait on models and workers. At most ``concurrency`` jobs run at
once; outcomes are handed to ``on_outcome`` in this thread, as they finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from rlm_core.batch.jobs import BatchJob
from rlm_core.batch.runner import BatchModels, JobOutcome, crashed, run_job

OnOutcome = Callable[[JobOutcome], None]


def run_local(
    jobs: Iterable[BatchJob],
    models: BatchModels,
    on_outcome: OnOutcome,
    *,
    concurrency: int = 4,
) -> None:
    """Run ``jobs`` with at most ``concurrency`` at a time; report each outcome."""
    pending: dict[Future[JobOutcome], BatchJob] = {}
    queue: Iterator[BatchJob] = iter(jobs)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="rlm-batch")
    try:
        for job in queue:
            pending[pool.submit(run_job, job, models)] = job
            if len(pending) >= concurrency:
                _drain(pending, on_outcome)
        while pending:
            _drain(pending, on_outcome)
    except BaseException:
        # Ctrl-C or a failing callback: start nothing new; jobs already running finish
        # in the background and are simply not recorded (a resumed batch runs them again).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _drain(pending: dict[Future[JobOutcome], BatchJob], on_outcome: OnOutcome) -> None:
    """Wait for at least one job to finish and report every finished one."""
    done, _ = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        job = pending.pop(future)
        try:
            outcome = future.result()
        except Exception as error:  # run_job records failures itself; this is a bug guard
            outcome = crashed(job, error)
        on_outcome(outcome)
