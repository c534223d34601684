"""Run many RLM jobs: on a bounded local pool of threads, or as tasks on a Ray cluster.

    from rlm_core.batch import ModelSpec, run_batch

    summary = run_batch("jobs.jsonl", "results.jsonl", model=ModelSpec.openai("gpt-4o-mini"))
    summary = run_batch("jobs.jsonl", "results.jsonl", model=spec, executor="ray")

Modules: ``jobs`` (the job format and its checks), ``models`` (picklable model specs),
``runner`` (one job to an outcome), ``local`` and ``ray_executor`` (the executors),
``results`` (atomic appends, traces, resume), ``progress`` and ``run`` (``run_batch``).
"""

from rlm_core.batch.jobs import BatchInputError, BatchJob, FileRef, JobOptions, load_jobs
from rlm_core.batch.models import ModelSpec
from rlm_core.batch.results import ResultsFileError, read_results, traces_dir_for
from rlm_core.batch.run import BatchSummary, run_batch
from rlm_core.batch.runner import BatchModels, JobOutcome, run_job

__all__ = [
    "BatchInputError",
    "BatchJob",
    "BatchModels",
    "BatchSummary",
    "FileRef",
    "JobOptions",
    "JobOutcome",
    "ModelSpec",
    "ResultsFileError",
    "load_jobs",
    "read_results",
    "run_batch",
    "run_job",
    "traces_dir_for",
]
