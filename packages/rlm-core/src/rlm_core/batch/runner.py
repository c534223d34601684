"""Run one batch job to a ``JobOutcome``: the unit both executors (threads, Ray) share.

``run_job`` never raises for a failing job: the error (and the trace recorded up to the
failure) goes into the outcome, so the other jobs of the batch go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rlm_core.adapters.base import Usage
from rlm_core.batch.jobs import BatchJob, JobOptions
from rlm_core.batch.models import ModelSpec
from rlm_core.errors import RLMError
from rlm_core.policy import Policy
from rlm_core.rlm import RLM
from rlm_core.trace import Trace


@dataclass(frozen=True, slots=True)
class BatchModels:
    """The root model of every job, and optionally a different one for sub-calls."""

    root: ModelSpec
    sub: ModelSpec | None = None


@dataclass(slots=True)
class JobOutcome:
    """What a job produced, as plain data (it travels back from Ray workers)."""

    id: str
    answer: str | None
    error_type: str | None = None
    error_message: str | None = None
    seconds: float = 0.0
    steps: int = 0
    usage: dict[str, int] = field(default_factory=lambda: Usage().to_dict())
    trace_json: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None


def build_rlm(job: BatchJob, models: BatchModels) -> RLM:
    """A fresh RLM for ``job``: its own adapters, built from the specs."""
    options: JobOptions = job.options
    extra: dict[str, Any] = {}
    if options.system_prompt is not None:
        extra["system_prompt"] = options.system_prompt
    return RLM(
        models.root.build(),
        subcall_adapter=models.sub.build() if models.sub is not None else None,
        policy=Policy(
            max_steps=options.max_steps,
            max_subcalls=options.max_subcalls,
            max_total_tokens=options.max_total_tokens,
            on_limit=options.on_limit,
        ),
        repl_backend=options.backend,
        max_output_tokens=options.max_output_tokens,
        temperature=options.temperature,
        parallel_subcalls=options.parallel_subcalls,
        max_concurrent_subcalls=options.max_concurrent_subcalls,
        recursive_subcalls=options.recursive_subcalls,
        max_recursion_depth=options.max_recursion_depth,
        profile=options.profile,
        **extra,
    )


def run_job(job: BatchJob, models: BatchModels) -> JobOutcome:
    """Answer one job; a failure is recorded in the outcome, never raised."""
    started = time.perf_counter()
    trace: Trace | None = None
    try:
        rlm = build_rlm(job, models)
        answer, trace = rlm.run(job.query, job.load_context())
        outcome = JobOutcome(id=job.id, answer=answer)
    except Exception as error:  # a failed job is data: record it and let the batch go on
        trace = error.trace if isinstance(error, RLMError) else None
        outcome = JobOutcome(
            id=job.id,
            answer=None,
            error_type=type(error).__name__,
            error_message=str(error) or repr(error),
        )
    outcome.seconds = round(time.perf_counter() - started, 3)
    if trace is not None:
        trace.metadata["batch"] = {
            "job_id": job.id,
            "line": job.line,
            "options": job.options.model_dump(),
            "model": models.root.label,
        }
        outcome.steps = len(trace.steps)
        outcome.usage = trace.usage.to_dict()
        outcome.trace_json = trace.to_json()
    return outcome


def crashed(job: BatchJob, error: BaseException, seconds: float = 0.0) -> JobOutcome:
    """The outcome of a job whose worker died or could not run it at all."""
    return JobOutcome(
        id=job.id,
        answer=None,
        error_type=type(error).__name__,
        error_message=str(error) or repr(error),
        seconds=round(seconds, 3),
    )
