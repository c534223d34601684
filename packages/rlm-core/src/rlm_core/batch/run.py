"""``run_batch``: check the jobs, skip those already done, run the rest, record each result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlm_core.batch.jobs import BatchJob, JobOptions, coerce_jobs, load_jobs
from rlm_core.batch.local import run_local
from rlm_core.batch.models import ModelSpec
from rlm_core.batch.progress import BatchProgress, progress_for
from rlm_core.batch.results import ResultsWriter, read_results
from rlm_core.batch.runner import BatchModels, JobOutcome
from rlm_core.errors import ConfigError

Executor = Literal["local", "ray"]
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What a ``run_batch`` call did: jobs run now, skipped as already done, and failed."""

    total: int
    skipped: int
    ran: int
    failed: int
    results: Path

    @property
    def succeeded(self) -> int:
        return self.ran - self.failed


def run_batch(
    jobs: str | Path | Iterable[BatchJob | Mapping[str, Any]],
    out: str | Path,
    *,
    model: ModelSpec,
    sub_model: ModelSpec | None = None,
    executor: Executor = "local",
    concurrency: int | None = None,
    defaults: JobOptions | None = None,
    retry_failed: bool = False,
    progress: bool | BatchProgress = False,
    ray_address: str | None = None,
    ray_init: Mapping[str, Any] | None = None,
    write_traces: bool = True,
) -> BatchSummary:
    """Run every job of ``jobs`` (a JSONL path, or job dicts / ``BatchJob``s) into ``out``.

    Jobs whose id already has a record in ``out`` are skipped (failed ones too, unless
    ``retry_failed``), so an interrupted batch resumes where it stopped. ``executor``
    is ``"local"`` (``concurrency`` threads in this process, default 4) or ``"ray"`` (Ray
    tasks; ``concurrency`` caps the tasks in flight, default the cluster's CPUs). Each job's
    trace is written to ``<out stem>.traces/<id>.json``. A failed job is recorded with
    its error; the batch goes on.
    """
    if executor not in ("local", "ray"):
        raise ConfigError(f"executor must be 'local' or 'ray', got {executor!r}")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ConfigError(f"concurrency must be None or an int >= 1, got {concurrency!r}")
    for name, spec in (("model", model), ("sub_model", sub_model)):
        if spec is not None and not isinstance(spec, ModelSpec):
            raise ConfigError(
                f"{name} must be a rlm_core.batch.ModelSpec (picklable: every job builds its "
                f"own adapter from it), got {type(spec).__name__}"
            )
    checked = (
        load_jobs(jobs, defaults) if isinstance(jobs, str | Path) else coerce_jobs(jobs, defaults)
    )
    results = Path(out)
    done = read_results(results)
    todo = [job for job in checked if not _finished(done.get(job.id), retry_failed)]
    reporter = progress if not isinstance(progress, bool) else progress_for(progress)
    models = BatchModels(model, sub_model)
    failed = ran = 0

    with ResultsWriter(results, write_traces=write_traces) as writer:

        def record(outcome: JobOutcome) -> None:
            nonlocal failed, ran
            writer.add(outcome)
            ran += 1
            failed += 0 if outcome.ok else 1
            reporter.job_done(outcome)

        reporter.start(len(todo), len(checked) - len(todo))
        try:
            if executor == "ray":
                from rlm_core.batch.ray_executor import run_on_ray

                run_on_ray(
                    todo,
                    models,
                    record,
                    address=ray_address,
                    max_in_flight=concurrency,
                    init_options=ray_init,
                )
            else:
                run_local(todo, models, record, concurrency=concurrency or DEFAULT_CONCURRENCY)
        finally:
            reporter.close()
    return BatchSummary(
        total=len(checked),
        skipped=len(checked) - len(todo),
        ran=ran,
        failed=failed,
        results=results,
    )


def _finished(record: dict[str, Any] | None, retry_failed: bool) -> bool:
    if record is None:
        return False
    return record.get("status") == "ok" or not retry_failed
