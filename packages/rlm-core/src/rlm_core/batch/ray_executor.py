"""The Ray executor: every job is a Ray task that builds its own RLM from the job's specs.

Jobs and ``BatchModels`` are plain picklable data; each task runs the same ``run_job``
as the local executor, so a scripted model gives the same answers on both. Outcomes
stream back as tasks finish and are recorded by the caller, in the same format.
Needs ``pip install "rlm-core[ray]"`` (and rlm-core installed on every Ray node).
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from rlm_core.batch.jobs import BatchJob
from rlm_core.batch.local import OnOutcome
from rlm_core.batch.runner import BatchModels, crashed, run_job
from rlm_core.errors import ConfigError

MISSING_RAY = 'Ray is not installed: pip install "rlm-core[ray]" to run batches with --ray'
LOCAL_INIT = {"include_dashboard": False, "log_to_driver": False}


def import_ray() -> ModuleType:
    """The ``ray`` module, or a ``ConfigError`` saying how to install it.

    Under ``uv run`` Ray would otherwise start every worker with ``uv run`` and upload the
    working directory; workers here use this same interpreter and its installed packages
    (set ``RAY_ENABLE_UV_RUN_RUNTIME_ENV=1`` to get Ray's behaviour back).
    """
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        return importlib.import_module("ray")
    except ImportError as error:
        raise ConfigError(MISSING_RAY) from error


def run_on_ray(
    jobs: Iterable[BatchJob],
    models: BatchModels,
    on_outcome: OnOutcome,
    *,
    address: str | None = None,
    max_in_flight: int | None = None,
    init_options: Mapping[str, Any] | None = None,
) -> None:
    """Run ``jobs`` as Ray tasks and report each outcome as it arrives.

    Uses the Ray session of this process when one is already connected; otherwise
    connects to ``address`` (``"auto"``, ``"ray://host:10001"``, ...) or, when it is
    None, starts a local Ray for the duration of the batch. At most ``max_in_flight``
    tasks (default: the cluster's CPUs) are submitted at a time.
    """
    ray = import_ray()
    started_here = False
    if not ray.is_initialized():
        options: dict[str, Any] = dict(LOCAL_INIT) if address is None else {}
        options.update(init_options or {})
        try:
            ray.init(address=address, **options)
        except ConnectionError as error:
            raise ConfigError(
                f"cannot connect to the Ray cluster at {address!r}: {error}; is it running "
                "(`ray status`), and is the address right?"
            ) from None
        started_here = True
    try:
        _submit_all(ray, jobs, models, on_outcome, max_in_flight)
    finally:
        if started_here:
            ray.shutdown()


def _submit_all(
    ray: Any,
    jobs: Iterable[BatchJob],
    models: BatchModels,
    on_outcome: OnOutcome,
    max_in_flight: int | None,
) -> None:
    limit = max_in_flight or max(int(ray.cluster_resources().get("CPU", 1)), 1)
    task = ray.remote(num_cpus=1, max_retries=1)(run_job)
    models_ref = ray.put(models)
    pending: dict[Any, tuple[BatchJob, float]] = {}
    try:
        for job in jobs:
            pending[task.remote(job, models_ref)] = (job, time.monotonic())
            if len(pending) >= limit:
                _collect(ray, pending, on_outcome)
        while pending:
            _collect(ray, pending, on_outcome)
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise


def _collect(ray: Any, pending: dict[Any, tuple[BatchJob, float]], on_outcome: OnOutcome) -> None:
    """Wait for at least one task and report every finished one."""
    ready, _ = ray.wait(list(pending), num_returns=1)
    for ref in ready:
        job, submitted = pending.pop(ref)
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayError as error:  # the worker died or Ray could not run it
            outcome = crashed(job, error, time.monotonic() - submitted)
        on_outcome(outcome)
